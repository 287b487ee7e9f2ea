"""Reading a map file: YAML with positions, top-level checks, then compilation.

Top-level keys of a map::

    map: pam_fr_adt_to_fr_core      # required; equals the file name
    description: ...                # free text
    source: hl7v2                   # required: hl7v2 | cda | json
    timezone: Europe/Paris          # for HL7 times without an offset (default Europe/Paris)
    namespaces: {cda: urn:hl7-org:v3}   # XPath prefixes (cda and xsi are predeclared)
    content_type: application/fhir+json # media type of the output (default)
    functions: {"name(a, b)": = expression}   # reusable expressions, in order
    let: {name: = expression}       # values computed once per message, in order
    when: = expression              # the map applies only when true
    output: ...                     # required: the output template

Every problem is collected and reported with ``file:line:col`` (see
:func:`engine.config.diagnostics.render`); :func:`compile_map` raises
:class:`~engine.errors.ConfigError` carrying them all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from engine.config.diagnostics import Diagnostic, did_you_mean, sort_diagnostics, summary
from engine.config.document import parse_document
from engine.config.loader import read_source
from engine.errors import ConfigError
from engine.mapping import expr as ast
from engine.mapping.builtins_time import DEFAULT_ZONE, resolve_zone
from engine.mapping.codegen import Emitter
from engine.mapping.compiler import ExprCompiler
from engine.mapping.env import Env, Scope, VarInfo
from engine.mapping.errors import MapNotApplicable
from engine.mapping.names import NAME, split_expression
from engine.mapping.nativepaths import DEFAULT_NAMESPACES
from engine.mapping.runtime import CompiledMap
from engine.mapping.tables import TableLoader
from engine.mapping.templates import TemplateCompiler
from engine.mapping.userfuncs import UserFunction, function_source, is_pure

KEYS = (
    "map",
    "description",
    "source",
    "timezone",
    "namespaces",
    "content_type",
    "functions",
    "let",
    "when",
    "output",
)
SOURCES = ("hl7v2", "cda", "json")
_HEADER = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*\(\s*(.*?)\s*\)\s*$")


def build_map(
    path: str | Path,
    *,
    tables: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[CompiledMap | None, list[Diagnostic]]:
    """Compile a map file; (the map or None on errors, every diagnostic sorted).

    Args:
        path: the map file; diagnostics name it as given.
        tables: the code tables directory; ``<map directory>/tables`` when None.
        environ: values for ``${VAR}`` references; ``os.environ`` when None.
    """
    path = Path(path)
    text, problems = read_source(path)
    if text is None:
        return None, problems
    doc = parse_document(text, str(path), os.environ if environ is None else environ)
    data = doc.data
    if not isinstance(data, dict):
        if not doc.diagnostics:
            doc.error((), "missing-key", "a map is a mapping with at least map, source, output")
        return None, sort_diagnostics(doc.diagnostics)
    for key in data:
        if key not in KEYS:
            doc.error(
                (key,), "unknown-key", f"unknown key {key!r}{did_you_mean(key, KEYS)}", key=True
            )
    for key in ("map", "source", "output"):
        if key not in data:
            doc.error((), "missing-key", f"missing required key {key!r}")
    name = data.get("map")
    if "map" in data and name != path.stem:
        doc.error(
            ("map",),
            "map-name-mismatch",
            f"the map is named {name!r} but its file is {path.name}: they must match",
        )
    source = data.get("source", "hl7v2")
    if source not in SOURCES:
        doc.error(("source",), "invalid-value", f"source must be one of {', '.join(SOURCES)}")
        source = "hl7v2"
    zone_name = data.get("timezone", DEFAULT_ZONE)
    try:
        zone = resolve_zone(str(zone_name))
    except ValueError as exc:
        doc.error(("timezone",), "invalid-value", str(exc))
        zone = resolve_zone(DEFAULT_ZONE)
    namespaces = dict(DEFAULT_NAMESPACES)
    declared = data.get("namespaces", {})
    if isinstance(declared, dict) and all(isinstance(v, str) for v in declared.values()):
        namespaces.update({str(k): v for k, v in declared.items()})
    else:
        doc.error(("namespaces",), "invalid-value", "namespaces maps prefixes to URIs")
    table_dir = Path(tables) if tables is not None else path.parent / "tables"
    env = Env(doc, str(name or path.stem), source, zone, namespaces, TableLoader(table_dir))
    compiler = TemplateCompiler(env)
    _functions(env, data.get("functions"))
    scope = Scope()
    em = Emitter(level=1)
    if "let" in data:
        compiler.lets(em, data["let"], ("let",), scope, "let")
    if "when" in data:
        condition = compiler.condition(em, data["when"], ("when",), scope, "when")
        not_applicable = env.ns.add(_not_applicable(env.map_name))
        with em.block(f"if not {condition}:"):
            em(f"raise {not_applicable}()")
    code, _, _ = compiler.emit(em, data.get("output"), ("output",), scope, "output")
    em(f"return {code}")
    for var_name, info in scope.names.items():
        if not info.used:
            env.warning(info.path, "unused-variable", f"{var_name!r} is never used")
    diagnostics = sort_diagnostics(doc.diagnostics)
    if any(d.is_error for d in diagnostics):
        return None, diagnostics
    source_code = "def _run(ctx):\n    slots = ctx.slots\n    _c = ctx.cache\n" + em.source() + "\n"
    run = env.ns.define(source_code, "_run", f"<map {env.map_name}>")
    compiled = CompiledMap(
        name=env.map_name,
        file=str(path),
        source=source,
        content_type=str(data.get("content_type") or "application/fhir+json"),
        slot_count=env.slots,
        run=run,
        source_code=source_code,
        uses_decimals=env.uses_decimals,
    )
    return compiled, diagnostics


def _not_applicable(map_name: str) -> Callable[[], MapNotApplicable]:
    def make() -> MapNotApplicable:
        return MapNotApplicable(f"map {map_name!r} does not apply: its 'when' is false")

    return make


def _functions(env: Env, data: Any) -> None:
    if data is None:
        return
    if not isinstance(data, dict):
        env.error(("functions",), "invalid-value", "functions maps 'name(a, b)' to an expression")
        return
    impure: set[str] = set()  # functions that read where they are called: never memoised
    for header, body in data.items():
        at = ("functions", header)
        m = _HEADER.match(header)
        params = tuple(p.strip() for p in m.group(2).split(",") if p.strip()) if m else ()
        if m is None or not all(NAME.match(p) for p in params):
            env.doc.add(
                env.doc.position(at, key=True),
                "error",
                "invalid-value",
                f"a function is declared as 'name(a, b)', got {header!r}",
            )
            continue
        fname = m.group(1)
        if fname in env.user_functions:
            env.doc.add(
                env.doc.position(at, key=True),
                "error",
                "duplicate-variable",
                f"function {fname!r} is already defined",
            )
            continue
        if not isinstance(body, str):
            env.error(at, "invalid-value", "a function's body is an expression")
            continue
        scope = Scope(dynamic=True)
        slots = tuple(env.new_slot() for _ in params)
        for param, slot in zip(params, slots, strict=True):
            scope.names[param] = VarInfo(slot, "any", at, used=True)
        text, start = split_expression(body)
        try:
            node = ast.parse_expression(text)
        except ast.ExprSyntaxError as exc:
            env.error(at, "expression-syntax", str(exc), start + exc.offset)
            continue
        code = ExprCompiler(env, scope, at, text, start).compile(node)
        code_name = env.ns.add(None, "U")
        fail = TemplateCompiler(env).failure(at, f"function {fname}", text)
        pure = is_pure(node, params, impure)
        if not pure:
            impure.add(fname)
        memo = env.ns.constant(code_name) if pure else None
        source = function_source(code_name, slots, code, fail, memo)
        env.ns.define(source, code_name, f"<map {env.map_name}>")
        env.user_functions[fname] = UserFunction(fname, code_name, params, code.kind)


def check_map(
    path: str | Path, *, tables: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> list[Diagnostic]:
    """Every diagnostic of a map file (empty: valid and clean); never raises for bad files."""
    return build_map(path, tables=tables, environ=environ)[1]


def compile_map(
    path: str | Path, *, tables: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> CompiledMap:
    """Compile a map file once; apply the result to any number of messages.

    Raises:
        ConfigError: the file is unreadable or has errors; ``diagnostics`` has them all.
    """
    compiled, diagnostics = build_map(path, tables=tables, environ=environ)
    if compiled is None:
        errors = [str(d) for d in diagnostics if d.is_error]
        message = "\n".join([f"invalid map {path}: {summary(diagnostics)}", *errors])
        raise ConfigError(message, diagnostics)
    return compiled


__all__ = ["KEYS", "SOURCES", "build_map", "check_map", "compile_map"]
