"""Backtick paths: XPath 1.0 for ``source: cda`` (XML) and a JSON path subset for ``json``.

XPath: compiled once with the map's ``namespaces`` (``cda: urn:hl7-org:v3`` is predeclared);
a relative path is evaluated on the current ``each`` item, else on the document element.
As a value, a path gives the string value of its first result (elements: their text,
attributes: their value); numbers and booleans from XPath functions stay numbers/booleans.
Documents are parsed with entities, DTDs and network access disabled.

JSON paths: ``$`` is the document, ``a.b`` (no ``$``) starts at the current item;
steps are ``.name``, ``['name']``, ``[n]`` (0-based) and ``[*]`` (every item: the path is
then a list). Missing steps give nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lxml import etree

from engine.mapping.context import Context

Frame = tuple[Any, None, None]
DEFAULT_NAMESPACES = {"cda": "urn:hl7-org:v3", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
_JSON_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(\*|[0-9]+|'[^']*')\]")


class InvalidNativePath(ValueError):
    """An XPath or JSON path that cannot be compiled."""


def safe_parser() -> etree.XMLParser:
    """An XML parser that resolves no entity, loads no DTD and never uses the network."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _xml_text(node: Any) -> Any:
    if isinstance(node, etree._Element):
        return "".join(str(t) for t in node.itertext())
    if isinstance(node, bool):
        return node
    if isinstance(node, float):
        return int(node) if node.is_integer() else str(node)
    return str(node)


def compile_xpath(
    text: str, namespaces: dict[str, str]
) -> tuple[Callable[[Context], Any], Callable[[Context], list[Frame]]]:
    """(value, items) evaluators of an XPath.

    Raises:
        InvalidNativePath: bad syntax, or an undeclared namespace prefix.
    """
    try:
        xpath = etree.XPath(text, namespaces=namespaces)
        xpath(etree.Element("probe"))  # undeclared prefixes only show at evaluation
    except etree.XPathError as exc:
        raise InvalidNativePath(f"invalid XPath {text!r}: {exc}") from exc

    def node_of(ctx: Context) -> Any:
        item = ctx.item
        return item if isinstance(item, etree._Element) else ctx.root

    def value(ctx: Context) -> Any:
        found = xpath(node_of(ctx))
        if isinstance(found, list):
            return _xml_text(found[0]) if found else ""
        return _xml_text(found)

    def items(ctx: Context) -> list[Frame]:
        found: Any = xpath(node_of(ctx))
        if not isinstance(found, list):
            found = [found]
        return [(f if isinstance(f, etree._Element) else _xml_text(f), None, None) for f in found]

    return value, items


def parse_json_path(text: str) -> tuple[bool, list[str | int | None]]:
    """(absolute, steps); a step is a key, an index, or None for ``[*]``.

    Raises:
        InvalidNativePath: the path is not in the supported subset.
    """
    absolute = text.startswith("$")
    rest = text[1:] if absolute else "." + text if not text.startswith("[") else text
    steps: list[str | int | None] = []
    pos = 0
    while pos < len(rest):
        m = _JSON_STEP.match(rest, pos)
        if m is None:
            raise InvalidNativePath(
                f"invalid JSON path {text!r} at {rest[pos:]!r}: use $.a.b, a[0], a[*] or ['a b']"
            )
        if m.group(1) is not None:
            steps.append(m.group(1))
        elif m.group(2) == "*":
            steps.append(None)
        elif m.group(2).startswith("'"):
            steps.append(m.group(2)[1:-1])
        else:
            steps.append(int(m.group(2)))
        pos = m.end()
    return absolute, steps


def _walk(values: list[Any], steps: list[str | int | None]) -> list[Any]:
    for step in steps:
        out: list[Any] = []
        for value in values:
            if step is None:
                out.extend(value if isinstance(value, list) else [])
            elif isinstance(step, int):
                if isinstance(value, list) and step < len(value):
                    out.append(value[step])
            elif isinstance(value, dict) and step in value:
                out.append(value[step])
        values = out
    return [v for v in values if v is not None]


def compile_json_path(
    text: str,
) -> tuple[Callable[[Context], Any], Callable[[Context], list[Frame]], bool]:
    """(value, items, is_list) evaluators of a JSON path."""
    absolute, steps = parse_json_path(text)
    is_list = None in steps

    def start(ctx: Context) -> list[Any]:
        if absolute or ctx.item is None:
            return [ctx.root]
        return [ctx.item]

    def value(ctx: Context) -> Any:
        found = _walk(start(ctx), steps)
        if is_list:
            return found
        return found[0] if found else None

    def items(ctx: Context) -> list[Frame]:
        found = _walk(start(ctx), steps)
        if len(found) == 1 and isinstance(found[0], list) and not is_list:
            found = found[0]
        return [(f, None, None) for f in found]

    return value, items, is_list


__all__ = [
    "DEFAULT_NAMESPACES",
    "InvalidNativePath",
    "compile_json_path",
    "compile_xpath",
    "parse_json_path",
    "safe_parser",
]
