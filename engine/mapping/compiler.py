"""Expressions to Python source, with static checks reported as diagnostics.

Each syntax node becomes a fragment of Python (:class:`Code`): variables read their slot,
literals and operators are inlined, paths, functions and tables are called through names of
the :class:`~engine.mapping.codegen.Namespace`. Checks done here (all collected, none stops
the others): unknown functions, variables and tables, argument counts and types,
literal-only arguments (tables, columns, regular expressions, time zones), paths, ``.N``
outside ``each``. A node that fails a check compiles to ``None`` so that checking goes on.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.config.document import DataPath
from engine.mapping import expr as ast
from engine.mapping.calls import NONE as _NONE
from engine.mapping.calls import CallCompiler
from engine.mapping.codegen import Code, truth
from engine.mapping.context import Context, Rep
from engine.mapping.env import Env, Scope
from engine.mapping.hl7access import compile_value
from engine.mapping.hl7paths import InvalidHl7Path, leaf, parse_hl7_path, primitive
from engine.mapping.nativepaths import InvalidNativePath, compile_json_path, compile_xpath
from engine.mapping.values import ANY, BOOL, LIST, NUMBER, TEXT

_COMPARE = {"<", "<=", ">", ">="}


def item_leaf(ctx: Context, comp: int, sub: int) -> str:
    """``.comp.sub`` of the current repetition (empty for other items)."""
    current = ctx.item
    if type(current) is Rep:
        return primitive(ctx, current, comp, sub)
    return ""


def item_value(ctx: Context) -> Any:
    """``.``: the current item (first component of a repetition, text of a segment/node)."""
    current = ctx.item
    if type(current) is Rep:
        msg = ctx.root
        return leaf(current, msg.delimiters, 1, 1, msg.codec)
    if hasattr(current, "to_text"):
        return current.to_text()
    if hasattr(current, "itertext"):
        return "".join(current.itertext())
    return current


class ExprCompiler(CallCompiler):
    """Compiles the expression written at one place (``path``) of a map."""

    def __init__(self, env: Env, scope: Scope, path: DataPath, text: str, start: int) -> None:
        self.env = env
        self.ns = env.ns
        self.scope = scope
        self.path = path
        self.text = text
        self.start = start

    def error(self, node: ast.Node, code: str, message: str) -> Code:
        self.env.error(self.path, code, message, self.start + node.start)
        return _NONE

    def compile(self, node: ast.Node) -> Code:
        if isinstance(node, ast.Literal):
            value = node.value
            if not isinstance(value, str | bool | int) and value is not None:
                self.env.uses_decimals = True
            kind = {str: TEXT, bool: BOOL, int: NUMBER}.get(type(value), NUMBER)
            return Code(self.ns.constant(value), ANY if value is None else kind)
        if isinstance(node, ast.ListLit):
            items = [self.compile(i) for i in node.items]
            text = "[" + ", ".join(i.text for i in items) + "]"
            return Code(text, LIST, any(i.calls for i in items))
        if isinstance(node, ast.Path):
            return self.path_node(node)
        if isinstance(node, ast.Item):
            return self.item(node)
        if isinstance(node, ast.Var):
            return self.var(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Unary):
            operand = self.compile(node.operand)
            return Code(f"(not {truth(operand)})", BOOL, operand.calls)
        assert isinstance(node, ast.Binary)
        return self.binary(node)

    def binary(self, node: ast.Binary) -> Code:
        left, right = self.compile(node.left), self.compile(node.right)
        calls = left.calls or right.calls
        op = node.op
        if op in ("and", "or"):
            return Code(f"({truth(left)} {op} {truth(right)})", BOOL, calls)
        if op in ("==", "!="):
            if left.kind == right.kind == TEXT:
                return Code(f"({left.text} {op} {right.text})", BOOL, calls)
            test = f"EQ({left.text}, {right.text})"
            return Code(test if op == "==" else f"(not {test})", BOOL, calls)
        if op in ("in", "not in"):
            if right.kind not in (LIST, ANY):
                return self.error(node.right, "type-mismatch", f"'{op}' needs a list on its right")
            items = node.right.items if isinstance(node.right, ast.ListLit) else None
            if (
                left.kind == TEXT
                and items
                and all(isinstance(i, ast.Literal) and isinstance(i.value, str) for i in items)
            ):
                values = frozenset(str(i.value) for i in items if isinstance(i, ast.Literal))
                return Code(f"({left.text} {op} {self.ns.add(values)})", BOOL, calls)
            test = f"MEMBER({left.text}, {right.text})"
            return Code(test if op == "in" else f"(not {test})", BOOL, calls)
        if op == "+":
            if LIST in (left.kind, right.kind):
                return self.error(node, "type-mismatch", "'+' joins texts, not lists (use join)")
            return Code(f"CAT({left.text}, {right.text})", TEXT, True)
        assert op in _COMPARE
        if _plain_number(node.left) and _plain_number(node.right):
            return Code(f"({left.text} {op} {right.text})", BOOL, calls)
        return Code(f"ORDER({self.ns.constant(op)}, {left.text}, {right.text})", BOOL, calls)

    def path_node(self, node: ast.Path) -> Code:
        source = self.env.source
        try:
            if node.kind == "hl7" or source == "hl7v2":
                if source != "hl7v2":
                    return self.error(node, "invalid-path", "HL7v2 paths need 'source: hl7v2'")
                parsed = parse_hl7_path(node.text)
                name = self.env.accessor(("hl7", node.text), lambda: compile_value(parsed))
                if parsed.is_list or not self.scope.message_level():
                    return Code(f"{name}(ctx)", LIST if parsed.is_list else TEXT)
                # Read once per message: the reader memoises under this key (see hl7access)
                key = self.env.accessor(("memo", node.text), lambda: ("value", node.text))
                return Code(f"(_c[{key}] if {key} in _c else {name}(ctx))", TEXT)
            if source == "cda":
                xpath = compile_xpath(node.text, self.env.namespaces)[0]
                return Code(f"{self.env.accessor(('xpath', node.text), lambda: xpath)}(ctx)", ANY)
            value, _, is_list = compile_json_path(node.text)
            name = self.env.accessor(("json", node.text), lambda: value)
            return Code(f"{name}(ctx)", LIST if is_list else ANY)
        except (InvalidNativePath, InvalidHl7Path) as exc:
            return self.error(node, "invalid-path", str(exc))

    def item(self, node: ast.Item) -> Code:
        kind = self.scope.each_kind()
        written = self.text[node.start : node.end]
        if kind is None:
            message = f"'{written}' is the current item of 'each': it is only valid inside one"
            return self.error(node, "misplaced-item", message)
        comp, sub = node.component, node.subcomponent
        if comp is None:
            helper = self.env.accessor(("item",), lambda: item_value)
            return Code(f"{helper}(ctx)", TEXT if kind in ("repetition", "segment") else ANY)
        if kind == "segment":
            message = f"'{written}' inside 'each' over segments: write SEG-n"
            return self.error(node, "misplaced-item", message)
        if kind in ("node", "value"):
            return self.error(
                node, "misplaced-item", f"'{written}' needs 'each' over an HL7v2 field"
            )
        if kind == "repetition":  # the item is always a repetition here
            helper = self.env.accessor(("primitive",), lambda: primitive)
            return Code(f"{helper}(ctx, ctx.item, {comp}, {sub or 1})", TEXT)
        helper = self.env.accessor(("item_leaf",), lambda: item_leaf)
        return Code(f"{helper}(ctx, {comp}, {sub or 1})", TEXT)

    def var(self, node: ast.Var) -> Code:
        if node.name == "index":
            if self.scope.each_kind() is None:
                return self.error(node, "misplaced-item", "'index' is only valid inside 'each'")
            return Code("ctx.index", NUMBER)
        info = self.scope.lookup(node.name)
        if info is None:
            known = [*self.scope.visible(), "index"]
            self.env.unknown_name(self.path, self.start + node.start, "variable", node.name, known)
            return _NONE
        info.used = True
        return Code(f"slots[{info.slot}]", info.type)


def _plain_number(node: ast.Node) -> bool:
    """A number that is never empty: a numeric literal or ``index``."""
    if isinstance(node, ast.Var):
        return node.name == "index"
    return (
        isinstance(node, ast.Literal)
        and isinstance(node.value, int | Decimal)
        and not (isinstance(node.value, bool))
    )


__all__ = ["ExprCompiler", "item_leaf", "item_value"]
