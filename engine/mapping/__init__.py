"""Carte, the mapping language of Passerelle: YAML maps compiled once to Python closures.

Typical use::

    from engine.mapping import compile_map

    adt = compile_map("mappings/pam_fr_adt_to_fr_core.yaml")   # ConfigError lists every problem
    bundle = adt.apply(envelope)                               # MappingError names map/rule/path
    transform = adt.to_transform(validate=True)                # for Pipeline.transforms

See ``docs/mapping.md`` for the language reference (constructs and functions).
"""

from __future__ import annotations

from engine.mapping.errors import InvalidOutput, MapNotApplicable, MapRuntimeError
from engine.mapping.functions import FunctionSpec, all_functions, builtin
from engine.mapping.loader import build_map, check_map, compile_map
from engine.mapping.runtime import CompiledMap
from engine.mapping.tables import CodeTable, load_table
from engine.mapping.validation import fhir_problems, validate_fhir

__all__ = [
    "CodeTable",
    "CompiledMap",
    "FunctionSpec",
    "InvalidOutput",
    "MapNotApplicable",
    "MapRuntimeError",
    "all_functions",
    "build_map",
    "builtin",
    "check_map",
    "compile_map",
    "fhir_problems",
    "load_table",
    "validate_fhir",
]
