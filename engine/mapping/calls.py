"""Function calls in expressions: arity and type checks, literal-only arguments (tables,
columns, regular expressions, time zones) resolved at compile time, lazy ``if``/``coalesce``
/``default``, and a few calls inlined (``present``/``empty`` of a text, table lookups)."""

from __future__ import annotations

import re
from typing import Any

from engine.config.document import DataPath
from engine.mapping import expr as ast
from engine.mapping.builtins_time import resolve_zone
from engine.mapping.codegen import Code, Namespace, accepts, truth
from engine.mapping.env import Env
from engine.mapping.functions import LITERAL_KINDS, FunctionSpec, Param, all_functions
from engine.mapping.functions import lookup_function as find_builtin
from engine.mapping.tables import CodeTable
from engine.mapping.values import ANY, BOOL, LIST, NUMBER, TEXT, describe

_LAZY = {"if", "coalesce", "default"}
NONE = Code("None", ANY)


class CallCompiler:
    """The part of :class:`~engine.mapping.compiler.ExprCompiler` that compiles calls."""

    env: Env
    ns: Namespace
    path: DataPath
    start: int

    def compile(self, node: ast.Node) -> Code:
        raise NotImplementedError

    def error(self, node: ast.Node, code: str, message: str) -> Code:
        raise NotImplementedError

    def call(self, node: ast.Call) -> Code:
        user = self.env.user_functions.get(node.name)
        if user is not None:
            given = [self.compile(a) for a in node.args]
            if len(given) != len(user.params):
                message = (
                    f"{node.name}() takes {len(user.params)} argument(s)"
                    f" ({', '.join(user.params)}), got {len(given)}"
                )
                return self.error(node, "wrong-arguments", message)
            text = f"{user.code_name}(ctx{''.join(', ' + a.text for a in given)})"
            return Code(text, user.kind, any(a.calls for a in given))
        spec = find_builtin(node.name)
        if spec is None:
            known = [s.name for s in all_functions()] + list(self.env.user_functions)
            self.env.unknown_name(self.path, self.start + node.start, "function", node.name, known)
            for arg in node.args:
                self.compile(arg)
            return NONE
        if not self.arity_ok(spec, node):
            return NONE
        args: list[Code] = []
        resolved: dict[str, Any] = {}
        for i, arg in enumerate(node.args):
            param = spec.param_for(i)
            if param.kind in LITERAL_KINDS:
                constant = self.literal_arg(spec, param, arg, resolved)
                resolved[param.kind] = constant
                args.append(Code(self.ns.add(constant), ANY))
                continue
            code = self.compile(arg)
            if not accepts(param.kind, code.kind):
                message = (
                    f"{spec.name}(): argument {param.name!r} must be {describe(param.kind)},"
                    f" got {describe(code.kind)}"
                )
                self.error(arg, "type-mismatch", message)
            args.append(_convert(param.kind, code))
        if node.name in ("hl7_datetime", "hl7_instant") and len(node.args) == 1:
            args.append(Code(self.ns.add(self.env.zone), ANY))
        if spec.returns == NUMBER:  # number(), lab_number(): may give a Decimal
            self.env.uses_decimals = True
        if spec.name in _LAZY:
            return self.lazy(spec.name, args)
        if spec.name in ("present", "empty") and args[0].kind == TEXT:
            test = "!=" if spec.name == "present" else "=="
            return Code(f"({args[0].text} {test} '')", BOOL, args[0].calls)
        table = resolved.get("table")
        if spec.name == "lookup" and isinstance(table, CodeTable):
            getter = self.ns.add(table.get)  # the table's own method: one call less
            text = f"{getter}({', '.join(a.text for a in args[1:])})"
            return Code(text, ANY, True)
        impl = self.env.accessor(("function", spec.name), lambda: spec.impl)
        text = f"{impl}({', '.join(a.text for a in args)})"
        return Code(text, _returns(spec, args), True)

    def lazy(self, name: str, args: list[Code]) -> Code:
        """``if``, ``coalesce`` and ``default`` evaluate only the arguments they return."""
        calls = any(a.calls for a in args)
        kind = _common(args[1:] if name == "if" else args)
        if name == "if":
            otherwise = args[2].text if len(args) > 2 else ("''" if kind == TEXT else "None")
            return Code(f"({args[1].text} if {truth(args[0])} else {otherwise})", kind, calls)
        if all(a.kind == TEXT for a in args):
            return Code("(" + " or ".join(a.text for a in args) + ")", TEXT, calls)
        text = "None"
        for arg in reversed(args):
            temp = self.ns.temp()
            text = f"({temp} if KEEP({temp} := {arg.text}) else {text})"
        return Code(text, kind, calls)

    def arity_ok(self, spec: FunctionSpec, node: ast.Call) -> bool:
        count, low, high = len(node.args), spec.min_args, spec.max_args
        if count >= low and (high is None or count <= high):
            return True
        wanted = f"{low}" if high == low else f"{low} or more" if high is None else f"{low}-{high}"
        message = f"{spec.name}() takes {wanted} argument(s), got {count}: {spec.signature}"
        self.error(node, "wrong-arguments", message)
        return False

    def literal_arg(
        self, spec: FunctionSpec, param: Param, arg: ast.Node, resolved: dict[str, Any]
    ) -> Any:
        if not isinstance(arg, ast.Literal) or not isinstance(arg.value, str):
            message = f"{spec.name}(): {param.name!r} must be written as a quoted text"
            self.error(arg, "wrong-arguments", message)
            return None
        text = arg.value
        if param.kind == "table":
            return self.table(arg, text)
        if param.kind == "column":
            table = resolved.get("table")
            if isinstance(table, CodeTable) and text not in table.columns:
                known = ", ".join(table.columns) or "none: the table has one value per code"
                message = f"table {table.name!r} has no column {text!r} (columns: {known})"
                self.error(arg, "unknown-column", message)
            return text
        if param.kind == "regex":
            try:
                return re.compile(text)
            except re.error as exc:
                self.error(arg, "invalid-regex", f"invalid regular expression: {exc}")
                return re.compile("(?!)")
        try:
            return resolve_zone(text)
        except ValueError as exc:
            self.error(arg, "invalid-value", str(exc))
            return None

    def table(self, arg: ast.Node, name: str) -> CodeTable | None:
        table, diagnostics, exists = self.env.tables.load(name)
        if not exists:
            known = self.env.tables.known()
            self.env.unknown_name(self.path, self.start + arg.start, "table", name, known)
            return None
        for diag in diagnostics:
            if diag not in self.env.doc.diagnostics:
                self.env.doc.diagnostics.append(diag)
        if table is None:
            self.error(arg, "invalid-table", f"table {name!r} has errors (see {name}.yaml)")
        return table


def _convert(kind: str, code: Code) -> Code:
    if kind == TEXT and code.kind != TEXT:
        return Code(f"TEXT({code.text})", TEXT, True)
    if kind == NUMBER and code.kind != NUMBER:
        return Code(f"NUMBER({code.text})", NUMBER, True)
    if kind == BOOL:
        return Code(truth(code), BOOL, code.calls)
    if kind == LIST and code.kind != LIST:
        return Code(f"LIST({code.text})", LIST, code.calls)
    return code


def _common(args: list[Code]) -> str:
    kinds = [a.kind for a in args if a.text != "None"]
    return kinds[0] if kinds and all(k == kinds[0] for k in kinds) else ANY


def _returns(spec: FunctionSpec, args: list[Code]) -> str:
    if spec.returns != "common":
        return spec.returns
    return _common(args)


__all__ = ["NONE", "CallCompiler"]
