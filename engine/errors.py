"""Error types. Every user-facing failure says where (file:line:column or a
JSON path) and what was expected; the CLI maps each type to an exit code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(base: str, *parts: Any) -> str:
    """`base` extended by keys and indexes, in the style data[0].details[2].eq; a key that is not a plain name is
    quoted with its escapes (['a b'], ['\\n']), so a key from a stranger cannot break the message's lines."""
    out = base
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.match(str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{str(part)!r}]"
    return out


@dataclass(frozen=True)
class Location:
    """A place in a rule, table or case file (1-based line and column)."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def shifted(self, line_offset: int, column: int) -> Location:
        """The location of a spot inside a scalar that starts at this location."""
        line = (self.line or 1) + line_offset
        col = column if line_offset else (self.column or 1) + column - 1
        return Location(self.file, line, col)


class MarginspecError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code = 3


class RuleFileError(MarginspecError):
    """A rule, table, venue or case file is malformed or inconsistent."""

    def __init__(self, message: str, location: Location | None = None, snippet: str | None = None):
        self.message = message
        self.location = location
        self.snippet = snippet
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.location}: " if self.location else ""
        text = f"{head}{self.message}"
        if self.snippet:
            text += f"\n    {self.snippet}"
        return text


class RuleFileErrors(MarginspecError):
    """Several independent problems found in one pass over rule files."""

    def __init__(self, errors: list[RuleFileError]):
        self.errors = errors
        super().__init__("\n".join(e.render() for e in errors))


class SnapshotError(MarginspecError):
    """A snapshot does not match the inputs the rule set declares."""

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None):
        self.problems = problems
        self.source = source
        head = f"{source}: " if source else ""
        lines = [f"{head}invalid snapshot ({len(problems)} problem{'s' if len(problems) != 1 else ''}):"]
        lines += [f"  {path or '(top level)'}: {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


class PayloadError(MarginspecError):
    """A venue payload (a REST response) cannot become a snapshot: each problem names the payload file,
    the JSON path inside it and what was expected."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems
        lines = [f"invalid payload ({len(problems)} problem{'s' if len(problems) != 1 else ''}):"]
        lines += [f"  {file}{': ' + path if path else ''}: {msg}" for file, path, msg in problems]
        super().__init__("\n".join(lines))


class EvaluationError(MarginspecError):
    """A formula has no defined value for this snapshot (for example 0/0)."""


class UsageError(MarginspecError):
    """The caller asked for something that does not exist (unknown rule set, bad date)."""

    exit_code = 2


def argument(value: Any, kinds: type | tuple[type, ...], name: str, expected: str) -> Any:
    """`value` when it is one of `kinds`; else the UsageError a Python caller gets for a wrong argument (the
    library's errors, not a TypeError from deep inside)."""
    if isinstance(value, kinds) and not (isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,))):
        return value
    raise UsageError(f"{name}: expected {expected}, got {type(value).__name__} {value!r:.60}")
