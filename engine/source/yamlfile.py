"""Safe YAML loading that remembers where every value came from.

Rule files are data from strangers: only plain mappings, sequences and
scalars are accepted (no tags that build objects, no anchors or aliases, no
merge keys, no duplicate keys), the file size and nesting depth are bounded,
and every value keeps its line and column so that later errors can point at
it. PyYAML's composer does the tokenising; building the values is ours.

Scalars are read so that no tool could read them as another number: plain
decimal integers (underscores allowed, no leading zero: YAML 1.1 reads `010`
as 8), hexadecimal `0x..`, and decimals with a point or an exponent (`1e-9`
is a number, as in YAML 1.2). YAML 1.1's base-60 numbers (`16:40` is 1000),
octal and binary forms are text, so a schema that wants a number says so.
Integers of more than MAX_INT_DIGITS digits, finite-looking numbers beyond a
double, control characters (even in a comment) and lone surrogates are
refused with their line and column."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import Location, RuleFileError
from .datafile import MAX_INT_DIGITS

MAX_FILE_BYTES = 2_000_000
MAX_DEPTH = 40

PathKey = tuple[str | int, ...]

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",  # kept as the text written: dates are strings here
}


@dataclass
class Document:
    """Parsed YAML plus the position of every value and mapping key."""

    data: Any
    file: str
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    sha256: str = ""  # of the file's bytes, set by the reader that had them (not part of the cached JSON)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (for the parsed-document cache): the data and every position."""
        return {"data": self.data, "values": [[list(k), *v] for k, v in self.values.items()],
                "keys": [[list(k), *v] for k, v in self.keys.items()]}

    @classmethod
    def from_json(cls, raw: Any, file: str) -> Document | None:
        """The inverse of to_json, or None for anything that is not its output."""
        try:
            return cls(raw["data"], file, {tuple(k): (int(a), int(b)) for k, a, b in raw["values"]},
                       {tuple(k): (int(a), int(b)) for k, a, b in raw["keys"]})
        except (KeyError, TypeError, ValueError):
            return None

    def where(self, path: PathKey, key: bool = False) -> Location:
        """Location of the value at `path` (or of its key), falling back to the nearest parent."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                line, col = table[probe]
                return Location(self.file, line, col)
            if probe in self.values:
                line, col = self.values[probe]
                return Location(self.file, line, col)
            probe = probe[:-1]
        return Location(self.file, 1, 1)


_INT = re.compile(r"[-+]?(?:0|[1-9][0-9_]*|0x[0-9a-fA-F_]+)\Z")
_FLOAT = re.compile(r"[-+]?(?:(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+)\Z")
_INFINITY = re.compile(r"([-+]?)\.(?:inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)\Z")
_NULL = ("", "~", "null", "Null", "NULL")
_BOOL = {k: v for v, words in ((True, "yes Yes YES true True TRUE on On ON"), (False, "no No NO false False FALSE off Off OFF"))
         for k in words.split()}
# what the YAML reader refuses (C0/C1 control characters but tab and line breaks, DEL, surrogates, U+FFFE/U+FFFF)
_UNREADABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_EXPECTED = {"int": "a decimal integer without leading zeros, or hexadecimal 0x...", "float": "a number",
             "bool": "true or false", "null": "null or nothing"}
_INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses anchors and aliases (bounded expansion), and whose resolver reads
    only the numbers described in the module docstring as numbers."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT_TAG, _FLOAT_TAG, "tag:yaml.org,2002:value")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(None, None, "aliases (*name) are not allowed in marginspec files", event.start_mark)
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise yaml.MarkedYAMLError(None, None, f"anchors (&{anchor}) are not allowed in marginspec files", event.start_mark)
        # refused while composing, at the node that goes too deep: the builder's own check would come after a
        # recursion as deep as the file (and Python's recursion limit, with no place to point at)
        self.depth = getattr(self, "depth", 0) + 1
        try:
            if self.depth > MAX_DEPTH + 1:
                raise yaml.MarkedYAMLError(None, None, f"nesting deeper than {MAX_DEPTH} levels", event.start_mark)
            return Composer.compose_node(self, parent, index)
        finally:
            self.depth -= 1


_NoAliasLoader.add_implicit_resolver(_INT_TAG, _INT, list("-+0123456789"))
_NoAliasLoader.add_implicit_resolver(_FLOAT_TAG, _FLOAT, list("-+0123456789."))
_NoAliasLoader.add_implicit_resolver(_FLOAT_TAG, re.compile(r"[-+]?\.(?:inf|Inf|INF)\Z|\.(?:nan|NaN|NAN)\Z"), list("-+."))


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, doc: Document):
        self.doc = doc

    def fail(self, node: Node, message: str) -> RuleFileError:
        line, col = _mark(node)
        return RuleFileError(message, Location(self.doc.file, line, col))

    def build(self, node: Node, path: PathKey, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail(node, f"nesting deeper than {MAX_DEPTH} levels")
        self.doc.values[path] = _mark(node)
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if isinstance(node, SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise self.fail(node, f"unsupported YAML tag {node.tag!r}")
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            if node.tag != "tag:yaml.org,2002:map":
                raise self.fail(node, f"unsupported YAML tag {node.tag!r}")
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    raise self.fail(key_node, "mapping keys must be plain text")
                key = self.text(key_node)
                if key == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
                    raise self.fail(key_node, "merge keys (<<) are not allowed in marginspec files")
                if key in out:
                    first = self.doc.keys.get(path + (key,))
                    where = f" (first at line {first[0]})" if first else ""
                    raise self.fail(key_node, f"duplicate key {key!r}{where}")
                self.doc.keys[path + (key,)] = _mark(key_node)
                out[key] = self.build(value_node, path + (key,), depth + 1)
            return out
        raise self.fail(node, "unsupported YAML node")

    def text(self, node: ScalarNode) -> str:
        m = _SURROGATE.search(node.value)
        if m:
            raise self.fail(node, f"text with a lone surrogate (\\u{ord(m.group()):04x}), which is not a character")
        return str(node.value)

    def scalar(self, node: ScalarNode) -> Any:
        tag, text = node.tag, node.value
        if tag not in _SCALAR_TAGS:
            raise self.fail(node, f"unsupported YAML tag {tag!r}; only plain text, numbers, booleans and null are allowed")
        if tag in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"):
            return self.text(node)
        if tag == "tag:yaml.org,2002:null" and text in _NULL:
            return None
        if tag == "tag:yaml.org,2002:bool" and text in _BOOL:
            return _BOOL[text]
        if tag == _INT_TAG and _INT.match(text):
            return self.integer(node, text)
        if tag == _FLOAT_TAG:
            if _NAN.match(text):
                raise self.fail(node, "NaN is not a value marginspec accepts")
            inf = _INFINITY.match(text)
            if inf:
                return -math.inf if inf.group(1) == "-" else math.inf
            if _INT.match(text):
                return float(self.integer(node, text))
            if _FLOAT.match(text):
                value = float(text.replace("_", ""))
                if math.isinf(value):
                    raise self.fail(node, f"number {text} is out of range for a double (write .inf for infinity)")
                return value
        kind = tag.rsplit(":", 1)[-1]
        raise self.fail(node, f"!!{kind} {text!r}: expected {_EXPECTED[kind]}")

    def integer(self, node: ScalarNode, text: str) -> int:
        digits = text.lstrip("+-").replace("_", "")
        value = int(digits, 16 if digits[:2] in ("0x", "0X") else 10) if len(digits) <= 4 * MAX_INT_DIGITS else None
        if value is None or value >= 10**MAX_INT_DIGITS:
            raise self.fail(node, f"integer {text[:20]}{'...' if len(text) > 20 else ''} is out of range (at most {MAX_INT_DIGITS} digits)")
        return -value if text.startswith("-") else value


def _position(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def parse_yaml(text: str, file: str) -> Document:
    """Parse YAML text into plain Python data with positions; raise RuleFileError on anything else."""
    if len(text.encode("utf-8", errors="replace")) > MAX_FILE_BYTES:
        raise RuleFileError(f"file is larger than {MAX_FILE_BYTES} bytes", Location(file))
    bad = _UNREADABLE.search(text)
    if bad:
        line, col = _position(text, bad.start())
        what = "a lone surrogate" if _SURROGATE.match(bad.group()) else "a control character" if bad.group() < "\xa0" else "a non-character"
        raise RuleFileError(f"{what} (U+{ord(bad.group()):04X}) is not allowed anywhere in a marginspec file, not even in a comment; "
                            "write it as an escape in a double-quoted string if it is meant", Location(file, line, col))
    doc = Document(data=None, file=file)
    loader = _NoAliasLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise RuleFileError("the file is empty", Location(file, 1, 1))
        doc.data = _Builder(doc).build(node, (), 0)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        raise RuleFileError(f"YAML syntax: {exc.problem or exc.context}", loc) from None
    except yaml.YAMLError as exc:
        raise RuleFileError(f"YAML syntax: {exc}", Location(file)) from None
    except RecursionError:
        raise RuleFileError("YAML nesting is too deep", Location(file)) from None
    finally:
        loader.dispose()
    return doc
