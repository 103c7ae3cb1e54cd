"""Formula text, read once: the located syntax tree every reader of a formula
uses (the lowering parser, the typesetter of the audit, explain).

Python's `ast` module does the parsing (a parser only; nothing is compiled or
run); this module owns that step: `if(` becomes the call `IF(` (a keyword in
Python, renamed in place so columns still match), the size of the text and
of the tree is bounded, and a syntax error is a located RuleFileError with
the line and a caret. Which node types mean something is for each reader to
say; a node no reader accepts is refused by the lowering parser with its
place."""

from __future__ import annotations

import ast
import functools
import io
import itertools
import tokenize
import warnings
from dataclasses import dataclass

from ..errors import Location, RuleFileError

MAX_TEXT = 4000
MAX_NODES = 5000


@dataclass(frozen=True)
class Formula:
    """A formula's text and its syntax tree; node positions are the text's (1-based lines, 0-based columns)."""

    text: str
    tree: ast.expr
    nodes: int  # size of the tree, for the work budget

    def segment(self, node: ast.AST) -> str:
        """The text a node was written as."""
        return ast.get_source_segment(self.text, node) or ""

    def error(self, where: Location, message: str, node: ast.AST | None = None, line: int | None = None, col: int | None = None) -> RuleFileError:
        """A RuleFileError at a node (or a line and column) of this formula, with the line and a caret."""
        line = line if line is not None else getattr(node, "lineno", 1)
        col = col if col is not None else getattr(node, "col_offset", 0)
        return located(self.text, where, message, line or 1, col or 0)


def located(text: str, where: Location, message: str, line: int, col: int) -> RuleFileError:
    lines = text.split("\n") or [""]
    src = lines[min(max(line, 1), len(lines)) - 1]
    snippet = f"{src}\n    {' ' * max(col, 0)}^"
    return RuleFileError(message, where.shifted(line - 1, col + 1), snippet)


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []


def _rename_if(text: str, tokens: list[tokenize.TokenInfo]) -> str:
    """`if` is a Python keyword; rename the call `if(` to `IF(` (same length, so columns still match)."""
    lines = text.split("\n")
    for tok, nxt in itertools.pairwise(tokens):
        if tok.type == tokenize.NAME and tok.string == "if" and nxt.string == "(":
            row, col = tok.start
            line = lines[row - 1]
            lines[row - 1] = line[:col] + "IF" + line[col + 2:]
    return "\n".join(lines)


def parse(text: str, where: Location) -> Formula:
    """The syntax tree of a formula; a located RuleFileError for text that is not one."""
    try:
        return _parse(text)
    except _Refusal as refusal:
        raise located(text, where, refusal.message, refusal.line, refusal.col) from None


class _Refusal(Exception):
    def __init__(self, message: str, line: int = 1, col: int = 0):
        super().__init__(message)
        self.message, self.line, self.col = message, line, col


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Formula:
    """Parse once per text (the tree is read-only for every reader); positions are added by `parse`."""
    if len(text) > MAX_TEXT:
        raise _Refusal(f"formula is longer than {MAX_TEXT} characters")
    tokens = _tokens(text)
    for tok in tokens:
        if tok.type == tokenize.NAME and tok.string == "IF":
            raise _Refusal("unknown name 'IF' (write if(cond, a, b))", *tok.start)
        if tok.type == tokenize.OP and tok.string == "%":
            raise _Refusal("% is not allowed: write a percentage as a ratio (3% is 0.03), or divide by 100", *tok.start)
    try:
        with warnings.catch_warnings():  # Python only warns of `1and 2` (invalid decimal literal): a syntax error here
            warnings.simplefilter("error", SyntaxWarning)
            tree = ast.parse(_rename_if(text, tokens), mode="eval")
    except SyntaxError as exc:
        raise _Refusal(f"syntax error: {exc.msg}", exc.lineno or 1, (exc.offset or 1) - 1) from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise _Refusal(f"cannot read this formula: {exc}") from None
    except (MemoryError, RecursionError):
        raise _Refusal("formula is nested too deeply") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise _Refusal(f"formula is too large (more than {MAX_NODES} syntax nodes)")
    return Formula(text, tree.body, nodes)
