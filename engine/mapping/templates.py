"""Output templates to Python source: objects, lists, constants, expressions, control keys.

A template is the YAML under ``output:``. Mappings become objects, lists become lists,
strings starting with ``=`` are expressions, other scalars are constants. Control keys,
allowed in any mapping: ``rule`` (a name used in run-time errors), ``each`` (one result per
item), ``let`` (names for values of this object), ``when`` (a condition, which may use those
names) and ``yield`` (the value produced instead of the object). A FHIR element with one of
those names is written with a backslash: ``\\when:``. Empty results are left out; lists met
inside lists are flattened (FHIR JSON never nests arrays).

Each template node emits Python statements into an :class:`~engine.mapping.codegen.Emitter`
and returns the code of its value (a local variable or an inline expression). Statements
whose expression calls a function are wrapped so that a failure raises a
:class:`~engine.mapping.errors.MapRuntimeError` naming the map, the rule, the place and the
expression, never a value.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from engine.config.document import DataPath
from engine.mapping import expr as ast
from engine.mapping.codegen import OBJECT, Code, Emitter, keep_test, truth
from engine.mapping.compiler import ExprCompiler
from engine.mapping.env import Env, Scope, dotted
from engine.mapping.errors import MapRuntimeError
from engine.mapping.names import NAME, NamesAndItems, split_expression
from engine.mapping.values import ANY, BOOL, LIST, NUMBER, TEXT, keep

CONTROL = ("rule", "each", "when", "let", "yield")


def _constant_kind(value: Any) -> str:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, str):
        return TEXT
    if isinstance(value, int | float):
        return NUMBER
    return ANY


def _is_constant(value: Any) -> bool:
    if isinstance(value, dict):
        return not any(k in CONTROL for k in value) and all(_is_constant(v) for v in value.values())
    if isinstance(value, list):
        return all(_is_constant(v) for v in value)
    return not (isinstance(value, str) and value.lstrip().startswith("="))


class TemplateCompiler(NamesAndItems):
    """Generates the code of the templates and expressions of one map."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.ns = env.ns

    # -- expressions -----------------------------------------------------------------------

    def expression(self, value: str, path: DataPath, scope: Scope) -> tuple[Code, str]:
        """(code, expression text) of ``= expr`` written at ``path``; problems are reported."""
        text, start = split_expression(value)
        try:
            node = ast.parse_expression(text)
        except ast.ExprSyntaxError as exc:
            self.env.error(path, "expression-syntax", str(exc), start + exc.offset)
            return Code("None", ANY), text
        return ExprCompiler(self.env, scope, path, text, start).compile(node), text

    def value(self, em: Emitter, code: Code, path: DataPath, rule: str, text: str) -> str:
        """Emit what evaluates ``code`` once; the name of the local holding the value."""
        temp = self.ns.temp()
        if not code.calls:
            em(f"{temp} = {code.text}")
            return temp
        with em.block("try:"):
            em(f"{temp} = {code.text}")
        with em.block("except FunctionFailure as _exc:"):
            em(f"raise {self.failure(path, rule, text)}(str(_exc)) from None")
        return temp

    def failure(self, path: DataPath, rule: str, text: str) -> str:
        value = self.env.value_at(path)
        start = split_expression(value)[1] if isinstance(value, str) else 0
        line, col = self.env.position(path, start)
        location = f"{self.env.doc.file}:{line}:{col}"
        where, map_name = dotted(path), self.env.map_name

        def make(reason: str) -> MapRuntimeError:
            return MapRuntimeError(map_name, rule, where, location, text, reason)

        return self.ns.add(make, "E")

    # -- templates -------------------------------------------------------------------------

    def emit(
        self, em: Emitter, value: Any, path: DataPath, scope: Scope, rule: str
    ) -> tuple[str, str, bool]:
        """Emit the statements of a template; (value code, static kind, splice into lists)."""
        if isinstance(value, dict | list) and _is_constant(value):
            kind = OBJECT if isinstance(value, dict) else LIST
            return self.display(self.constant(value, path)), kind, False
        if isinstance(value, dict):
            return self.obj(em, value, path, scope, rule)
        if isinstance(value, list):
            return self.array(em, value, path, scope, rule), LIST, False
        if isinstance(value, str) and value.lstrip().startswith("="):
            code, text = self.expression(value, path, scope)
            return self.value(em, code, path, rule, text), code.kind, False
        constant = self.constant(value, path)
        return self.ns.constant(constant), _constant_kind(constant), False

    def display(self, value: Any) -> str:
        """Python display (``{K1: [K2]}``) building a fresh copy of constant data."""
        if isinstance(value, dict):
            items = ", ".join(f"{self.ns.constant(k)}: {self.display(v)}" for k, v in value.items())
            return "{" + items + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.display(v) for v in value) + "]"
        return self.ns.constant(value)

    def constant(self, value: Any, path: DataPath) -> Any:
        """A constant template as plain data (empty parts dropped, keys unescaped)."""
        if isinstance(value, dict):
            out = {}
            for key, v in value.items():
                item = self.constant(v, (*path, key))
                if keep(item):
                    out[key[1:] if key.startswith("\\") else key] = item
            return out
        if isinstance(value, list):
            items = [self.constant(v, (*path, i)) for i, v in enumerate(value)]
            return [i for i in items if keep(i)]
        if isinstance(value, str):
            return value[1:] if value.startswith("\\=") else value
        if isinstance(value, date | datetime):
            return self.env.doc.scalar_text.get(path, value.isoformat())
        return value

    def array(self, em: Emitter, items: list[Any], path: DataPath, scope: Scope, rule: str) -> str:
        out = self.ns.temp()
        em(f"{out} = []")
        for i, item in enumerate(items):
            code, kind, splice = self.emit(em, item, (*path, i), scope, rule)
            if splice:
                em(f"{out}.extend({code})")
            elif kind == LIST:
                em(f"{out}.extend(_x for _x in {code} if KEEP(_x))")
            elif kind == ANY:
                with em.block(f"if type({code}) is list:"):
                    em(f"{out}.extend(_x for _x in {code} if KEEP(_x))")
                with em.block(f"elif {keep_test(code, kind)}:"):
                    em(f"{out}.append({code})")
            else:
                with em.block(f"if {keep_test(code, kind)}:"):
                    em(f"{out}.append({code})")
        return out

    def fields(
        self, em: Emitter, data: list[tuple[str, Any]], path: DataPath, scope: Scope, rule: str
    ) -> str:
        out = self.ns.temp()
        em(f"{out} = {{}}")
        for key, value in data:
            name = self.ns.constant(key[1:] if key.startswith("\\") else key)
            code, kind, _ = self.emit(em, value, (*path, key), scope, rule)
            if not isinstance(value, dict | list) and _is_constant(value):
                if keep(self.constant(value, (*path, key))):
                    em(f"{out}[{name}] = {code}")
                continue
            with em.block(f"if {keep_test(code, kind)}:"):
                em(f"{out}[{name}] = {code}")
        return out

    def obj(
        self, em: Emitter, data: dict[str, Any], path: DataPath, scope: Scope, rule: str
    ) -> tuple[str, str, bool]:
        if "rule" in data:
            rule = self.rule_name(data["rule"], (*path, "rule"), rule)
        fields = [(k, v) for k, v in data.items() if k not in CONTROL]
        if "yield" in data and fields:
            self.env.error(
                (*path, fields[0][0]),
                "invalid-value",
                "'yield' gives the value of this item: remove the other keys",
            )
        if "each" not in data:
            return self.single(em, data, fields, path, scope, rule)
        items, kind = self.each_source(data["each"], (*path, "each"), scope)
        inner = Scope(parent=scope, item_kind=kind)
        out, frames, saved = self.ns.temp(), self.ns.temp(), self.ns.temp()
        seg, group = self.ns.temp(), self.ns.temp()
        em(f"{out} = []")
        em(f"{frames} = {items}(ctx)")
        with em.block(f"if {frames}:"):
            em(f"{saved} = (ctx.item, ctx.index, ctx.segments, ctx.group)")
            with em.block(f"for ctx.index, (ctx.item, {seg}, {group}) in enumerate({frames}, 1):"):
                if kind == "segment":
                    em(f"ctx.segments, ctx.group = {seg}, {group}")
                body = self.body(em, data, fields, path, inner, rule, skip="continue")
                with em.block(f"if {keep_test(body[0], body[1])}:"):
                    if body[1] == LIST:  # an item that yields a list: flattened (no nesting)
                        em(f"{out}.extend({body[0]})")
                    elif body[1] == ANY:
                        with em.block(f"if type({body[0]}) is list:"):
                            em(f"{out}.extend({body[0]})")
                        with em.block("else:"):
                            em(f"{out}.append({body[0]})")
                    else:
                        em(f"{out}.append({body[0]})")
            em(f"ctx.item, ctx.index, ctx.segments, ctx.group = {saved}")
        return out, LIST, True

    def single(
        self,
        em: Emitter,
        data: dict[str, Any],
        fields: list[tuple[str, Any]],
        path: DataPath,
        scope: Scope,
        rule: str,
    ) -> tuple[str, str, bool]:
        if "when" not in data and "let" not in data:
            if "yield" in data:
                return self.emit(em, data["yield"], (*path, "yield"), scope, rule)
            return self.fields(em, fields, path, scope, rule), OBJECT, False
        out = self.ns.temp()
        em(f"{out} = None")
        with em.block("while True:"):  # a block to leave with 'break' when 'when' is false
            code, kind = self.body(em, data, fields, path, scope, rule, skip="break")
            em(f"{out} = {code}")
            em("break")
        return out, (kind if "yield" in data else OBJECT), False

    def body(
        self,
        em: Emitter,
        data: dict[str, Any],
        fields: list[tuple[str, Any]],
        path: DataPath,
        scope: Scope,
        rule: str,
        skip: str,
    ) -> tuple[str, str]:
        """Emit ``let``, ``when`` (leaving with ``skip``) and the object or ``yield``."""
        if "let" in data:
            scope = Scope(parent=scope)
            self.lets(em, data["let"], (*path, "let"), scope, rule)
        if "when" in data:
            condition = self.condition(em, data["when"], (*path, "when"), scope, rule)
            with em.block(f"if not {condition}:"):
                em(skip)
        if "yield" in data:
            code, kind, _ = self.emit(em, data["yield"], (*path, "yield"), scope, rule)
            return code, kind
        return self.fields(em, fields, path, scope, rule), OBJECT

    def condition(self, em: Emitter, value: Any, path: DataPath, scope: Scope, rule: str) -> str:
        if isinstance(value, str):
            code, text = self.expression(value, path, scope)
            if not code.calls:
                return truth(code)
            temp = self.value(em, code, path, rule, text)
            return truth(Code(temp, code.kind))
        text, kind, _ = self.emit(em, value, path, scope, rule)
        return truth(Code(text, kind))


__all__ = ["CONTROL", "NAME", "TemplateCompiler", "split_expression"]
