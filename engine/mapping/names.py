"""Names and iteration in templates: ``rule`` labels, ``let`` variables and ``each`` sources.

``each`` takes an HL7v2 path (segments, ``SEG under PARENT`` groups, or repetitions of a
field), a backtick path (XPath nodes, JSON items) or any expression giving a list.
Variables are lower-case names, defined once per scope (no shadowing) and stored in slots.
"""

from __future__ import annotations

import re
from typing import Any

from engine.config.document import DataPath
from engine.mapping import expr as ast
from engine.mapping.codegen import Emitter, Namespace
from engine.mapping.compiler import ExprCompiler
from engine.mapping.env import Env, Scope, VarInfo
from engine.mapping.hl7access import compile_items, compile_under
from engine.mapping.hl7paths import InvalidHl7Path, parse_hl7_path
from engine.mapping.nativepaths import InvalidNativePath, compile_json_path, compile_xpath
from engine.mapping.values import ANY, LIST

NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_RESERVED = {"and", "or", "not", "in", "true", "false", "null", "index"}
_UNDER = re.compile(r"^[A-Z][A-Z0-9]{2}(?:\s+under\s+[A-Z][A-Z0-9]{2})+$")


def split_expression(value: str) -> tuple[str, int]:
    """(expression text, its offset in ``value``) for ``= expr`` or a bare ``expr``."""
    stripped = value.lstrip()
    start = len(value) - len(stripped)
    if stripped.startswith("="):
        start += 1
    body = value[start:]
    start += len(body) - len(body.lstrip())
    return value[start:].rstrip(), start


class NamesAndItems:
    """The part of :class:`~engine.mapping.templates.TemplateCompiler` for names and ``each``."""

    env: Env
    ns: Namespace

    def emit(
        self, em: Emitter, value: Any, path: DataPath, scope: Scope, rule: str
    ) -> tuple[str, str, bool]:
        raise NotImplementedError

    def failure(self, path: DataPath, rule: str, text: str) -> str:
        raise NotImplementedError

    def rule_name(self, value: Any, path: DataPath, current: str) -> str:
        if not isinstance(value, str) or not NAME.match(value):
            self.env.error(path, "invalid-value", "a rule name is a lower-case name, e.g. patient")
            return current
        if value in self.env.rules:
            line, _ = self.env.doc.position(self.env.rules[value])
            self.env.error(path, "duplicate-rule", f"rule {value!r} is already used (line {line})")
        self.env.rules[value] = path
        return value

    def lets(self, em: Emitter, data: Any, path: DataPath, scope: Scope, rule: str) -> None:
        if not isinstance(data, dict):
            self.env.error(path, "invalid-value", "'let' is a mapping of names to expressions")
            return
        for name, value in data.items():
            at = (*path, name)
            code, kind, _ = self.emit(em, value, at, scope, rule)
            info = self.declare(name, at, scope, kind)
            if info is not None:
                em(f"slots[{info.slot}] = {code}")

    def declare(self, name: str, path: DataPath, scope: Scope, kind: str) -> VarInfo | None:
        doc = self.env.doc
        if not NAME.match(name) or name in _RESERVED:
            doc.add(
                doc.position(path, key=True),
                "error",
                "invalid-value",
                f"{name!r} cannot be a variable name (lower-case, not a keyword)",
            )
            return None
        if scope.lookup(name) is not None:
            doc.add(
                doc.position(path, key=True),
                "error",
                "duplicate-variable",
                f"{name!r} is already defined",
            )
            return None
        info = VarInfo(self.env.new_slot(), kind, path)
        scope.names[name] = info
        return info

    def each_source(self, value: Any, path: DataPath, scope: Scope) -> tuple[str, str]:
        """(namespace name of the item reader, item kind) of an ``each``."""
        if not isinstance(value, str):
            self.env.error(path, "invalid-value", "'each' takes a path or an expression")
            return self.ns.add(lambda ctx: []), "value"
        text, start = split_expression(value)
        if _UNDER.match(text) and self.env.source == "hl7v2":
            names = text.split()[::2]
            items = compile_items(parse_hl7_path(names[-1]))
            for name in reversed(names[:-1]):
                items = compile_under(compile_items(parse_hl7_path(name)), items)
            return self.ns.add(items, "I"), "segment"
        try:
            node = ast.parse_expression(text)
        except ast.ExprSyntaxError as exc:
            self.env.error(path, "expression-syntax", str(exc), start + exc.offset)
            return self.ns.add(lambda ctx: []), "value"
        if isinstance(node, ast.Path):
            try:
                return self.path_items(node)
            except (InvalidHl7Path, InvalidNativePath) as exc:
                self.env.error(path, "invalid-path", str(exc), start + node.start)
                return self.ns.add(lambda ctx: []), "value"
        code = ExprCompiler(self.env, scope, path, text, start).compile(node)
        if code.kind not in (LIST, ANY):
            self.env.error(path, "type-mismatch", "'each' needs a list, a path or a segment id")
        fail = self.failure(path, "each", text)
        source = (
            f"def _items(ctx):\n    slots = ctx.slots\n    _c = ctx.cache\n    try:\n"
            f"        return [(_v, None, None) for _v in LIST({code.text})]\n"
            f"    except FunctionFailure as _exc:\n        raise {fail}(str(_exc)) from None\n"
        )
        function = self.ns.define(source, "_items", f"<map {self.env.map_name}>")
        return self.ns.add(function, "I"), "value"

    def path_items(self, node: ast.Path) -> tuple[str, str]:
        source = self.env.source
        if node.kind == "hl7" or source == "hl7v2":
            if source != "hl7v2":
                raise InvalidHl7Path("HL7v2 paths need 'source: hl7v2'")
            parsed = parse_hl7_path(node.text)
            kind = "segment" if parsed.field is None else "repetition"
            return self.ns.add(compile_items(parsed), "I"), kind
        if source == "cda":
            return self.ns.add(compile_xpath(node.text, self.env.namespaces)[1], "I"), "node"
        return self.ns.add(compile_json_path(node.text)[1], "I"), "value"


__all__ = ["NAME", "NamesAndItems", "split_expression"]
