"""Safe YAML loading that remembers where every value came from.

Rule files are data from strangers: only plain mappings, sequences and
scalars are accepted (no tags that build objects, no anchors or aliases, no
merge keys, no duplicate keys), the file size and nesting depth are bounded,
and every value keeps its line and column so that later errors can point at
it. PyYAML's composer does the tokenising; building the values is ours."""

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

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (for the parsed-document cache): the data and every position."""
        return {"data": self.data, "values": [[list(k), *v] for k, v in self.values.items()],
                "keys": [[list(k), *v] for k, v in self.keys.items()]}

    @classmethod
    def from_json(cls, raw: Any, file: str) -> "Document | None":
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


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses anchors and aliases (bounded expansion), and which reads
    numbers the YAML 1.2 way: `1e-9` is a number, not text as in YAML 1.1."""

    yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # type: ignore[override]
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(None, None, "aliases (*name) are not allowed in marginspec files", event.start_mark)
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise yaml.MarkedYAMLError(None, None, f"anchors (&{anchor}) are not allowed in marginspec files", event.start_mark)
        return Composer.compose_node(self, parent, index)


_NoAliasLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, doc: Document, loader: _NoAliasLoader):
        self.doc = doc
        self.loader = loader

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
                key = key_node.value
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

    def scalar(self, node: ScalarNode) -> Any:
        if node.tag not in _SCALAR_TAGS:
            raise self.fail(node, f"unsupported YAML tag {node.tag!r}; only plain text, numbers, booleans and null are allowed")
        if node.tag in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"):
            return node.value
        try:
            value = self.loader.construct_object(node)
        except (ValueError, OverflowError) as exc:
            raise self.fail(node, f"cannot read {node.value!r}: {exc}") from None
        if isinstance(value, float) and math.isnan(value):
            raise self.fail(node, "NaN is not a value marginspec accepts")
        return value


def parse_yaml(text: str, file: str) -> Document:
    """Parse YAML text into plain Python data with positions; raise RuleFileError on anything else."""
    if len(text.encode("utf-8", errors="replace")) > MAX_FILE_BYTES:
        raise RuleFileError(f"file is larger than {MAX_FILE_BYTES} bytes", Location(file))
    doc = Document(data=None, file=file)
    loader = _NoAliasLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise RuleFileError("the file is empty", Location(file, 1, 1))
        doc.data = _Builder(doc, loader).build(node, (), 0)
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
