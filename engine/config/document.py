"""A YAML file turned into plain Python data that remembers where every key and value was.

:func:`parse_document` composes the YAML node tree (PyYAML ``compose`` with the safe
loader), then builds dicts, lists and scalars from it while recording, for every path
(a tuple of keys and list indexes), the 1-based position of the key and of the value.
On the way it reports duplicate keys, non-scalar keys, unknown tags and recursive
aliases, and expands ``${VAR}`` references in string scalars (see
:mod:`engine.config.interpolate`). It never raises for bad input: problems become
diagnostics on the returned :class:`Document`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.config.diagnostics import Diagnostic, Level
from engine.config.interpolate import interpolate

#: A location inside the data: mapping keys and list indexes from the root.
DataPath = tuple[str | int, ...]
Position = tuple[int, int]

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class Document:
    """A parsed file. ``data`` is None when the file is empty or unparseable.

    Attributes:
        key_positions: path -> (line, col) of the key that introduces the value.
        value_positions: path -> (line, col) where the value starts.
        scalar_text: path -> source text of scalars YAML read as something other than a
            string (``2.5``, ``0123``, ``yes``), for fields that must stay text.
        tainted: paths of strings whose interpolation failed (already reported).
    """

    file: str
    text: str
    data: Any = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    key_positions: dict[DataPath, Position] = field(default_factory=dict)
    value_positions: dict[DataPath, Position] = field(default_factory=dict)
    scalar_text: dict[DataPath, str] = field(default_factory=dict)
    tainted: set[DataPath] = field(default_factory=set)

    def position(self, path: DataPath, *, key: bool = False) -> Position:
        """Where ``path`` is written: its key if ``key`` and it has one, else its value.

        Falls back to the nearest enclosing path that has a position, then to 1:1.
        """
        while True:
            if key and path in self.key_positions:
                return self.key_positions[path]
            if path in self.value_positions:
                return self.value_positions[path]
            if not path:
                return (1, 1)
            path = path[:-1]

    def error(self, path: DataPath, code: str, message: str, *, key: bool = False) -> None:
        self.add(self.position(path, key=key), "error", code, message)

    def warning(self, path: DataPath, code: str, message: str, *, key: bool = False) -> None:
        self.add(self.position(path, key=key), "warning", code, message)

    def add(self, pos: Position, level: Level, code: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.file, pos[0], pos[1], level, code, message))


def parse_document(text: str, file: str, env: Mapping[str, str]) -> Document:
    """Parse ``text`` (the content of ``file``) into a :class:`Document`."""
    doc = Document(file=file, text=text)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        doc.add(pos, "error", "yaml-syntax", _yaml_message(exc))
        return doc
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        index = getattr(exc, "position", 0)
        line = text.count("\n", 0, index) + 1
        col = index - (text.rfind("\n", 0, index) + 1) + 1
        doc.add((line, col), "error", "yaml-syntax", str(exc).splitlines()[0])
        return doc
    if root is not None:
        doc.data = _Builder(doc, env).build(root, ())
    return doc


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    """The parser's complaint in plain words, with the parser's own text after it."""
    problem = exc.problem or "invalid YAML"
    mark = exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    parser = problem
    if exc.context and problem.startswith("but "):
        parser = f"{exc.context}, {problem}"  # "expected a single document ..., but found ..."
    elif exc.context:
        parser = f"{problem} ({exc.context}{f' at {where}' if where else ''})"
    plain = _plain(problem, exc.context or "", where)
    return f"{plain} [YAML: {parser}]" if plain else parser


def _plain(problem: str, context: str, where: str) -> str:
    """Plain words for the structure errors people make (indentation, tabs, quotes)."""
    block = f" (the block that starts at {where})" if where else ""
    opened = f" (opened at {where})" if where else ""
    if problem.startswith("expected <block end>") or problem.startswith(
        "did not find expected key"
    ):
        return (
            "this line is not aligned with the block it belongs to" + block + ": the keys"
            " of one mapping, and the items of one list, start at the same column; indent"
            " it like the lines it goes with"
        )
    if problem == "mapping values are not allowed here":
        return (
            "a 'key:' where YAML expects a value: this line is probably indented deeper"
            " than the key above it, which makes it part of that key's value; align it with"
            " its sibling keys (or quote a value that contains ': ')"
        )
    if problem == "could not find expected ':'":
        return f"a line in a mapping is not 'key: value'{block}: add the ':' or fix its indentation"
    if "'\\t'" in problem or "'\t'" in problem:
        return "a tab character: YAML indents with spaces only; replace the tab with spaces"
    if problem.startswith("did not find expected '-' indicator"):
        return (
            f"a line inside a list{block} is not an item: start it with '- ' or fix its indentation"
        )
    if "flow sequence" in context or "flow mapping" in context:
        closing = "]" if "sequence" in context else "}"
        return f"a list or mapping written inline is not closed{opened}: add the '{closing}'"
    if "quoted scalar" in context:
        return f"a quoted value is never closed{opened}: add the closing quote"
    return ""


class _Builder:
    def __init__(self, doc: Document, env: Mapping[str, str]) -> None:
        self.doc = doc
        self.env = env
        self.constructor = SafeConstructor()
        self.active: set[int] = set()

    def build(self, node: Node, path: DataPath) -> Any:
        self.doc.value_positions[path] = _pos(node)
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            self.doc.error(path, "invalid-value", "recursive alias: a value contains itself")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))

    def mapping(self, node: MappingNode, path: DataPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        # Merge keys (``<<: *defaults``) first so that explicit keys override them.
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self.merge(result, value_node, path)
        seen: dict[str, Position] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, ScalarNode):
                self.doc.add(_pos(key_node), "error", "invalid-key", "keys must be plain strings")
                continue
            key = str(key_node.value)
            if key in seen:
                line, col = seen[key]
                message = f"duplicate key {key!r} (first written at line {line}, column {col})"
                self.doc.add(_pos(key_node), "error", "duplicate-key", message)
                continue
            seen[key] = _pos(key_node)
            self.doc.key_positions[(*path, key)] = _pos(key_node)
            result[key] = self.build(value_node, (*path, key))
        return result

    def merge(self, result: dict[str, Any], value_node: Node, path: DataPath) -> None:
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, MappingNode):
                self.doc.add(_pos(source), "error", "invalid-value", "'<<' expects a mapping")
                continue
            outer = self.doc.value_positions.get(path)
            merged = self.build(source, path)
            if outer is not None:
                self.doc.value_positions[path] = outer
            for key, value in merged.items():
                result.setdefault(key, value)

    def scalar(self, node: ScalarNode, path: DataPath) -> Any:
        if node.tag == _STR_TAG:
            return self.string(node, path)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except ConstructorError as exc:
            self.doc.error(path, "unsupported-tag", exc.problem or f"unsupported tag {node.tag}")
            self.doc.tainted.add(path)
            return None
        if value is not None and not isinstance(value, str):
            self.doc.scalar_text[path] = str(node.value)
        return value

    def string(self, node: ScalarNode, path: DataPath) -> str:
        value = str(node.value)
        expanded, problems = interpolate(value, self.env)
        if problems:
            self.doc.tainted.add(path)
            line, col = _pos(node)
            shift = self.offset_shift(node, value)
            for problem in problems:
                at = (line, col + shift + problem.offset) if shift is not None else (line, col)
                self.doc.add(at, "error", problem.code, problem.message)
        return expanded

    def offset_shift(self, node: ScalarNode, value: str) -> int | None:
        """Column shift from the scalar's start to its first character, if the source
        text maps one-to-one onto the value (single line, no escapes), else None."""
        raw = self.doc.text[node.start_mark.index : node.end_mark.index]
        if node.style is None and raw == value:
            return 0
        if node.style in ("'", '"') and raw[1:-1] == value:
            return 1
        return None


def _pos(node: Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


__all__ = ["DataPath", "Document", "Position", "parse_document"]
