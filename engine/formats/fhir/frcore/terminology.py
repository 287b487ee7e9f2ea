"""Value-set membership for required bindings, from the ValueSets and CodeSystems of the
FR Core package and the few FHIR R4 core code systems FR Core binds (:mod:`.core_codes`).

A value set is expanded from its ``compose``: listed concepts, whole code systems, and
included value sets, minus its exclusions. One that includes anything neither holds (UCUM,
ANS NOS terminologies) cannot be expanded: the binding is then reported as not checked,
never as passed — except that a code its ``exclude`` lists is known to be outside it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from engine.formats.fhir.frcore.core_codes import CORE_CODE_SYSTEMS, CORE_VALUE_SETS
from engine.formats.fhir.frcore.package import FrCorePackage, Json, canonical

Codes = frozenset[tuple[str, str]]


def _concepts(concepts: list[Json]) -> list[str]:
    codes: list[str] = []
    for concept in concepts:
        if isinstance(concept.get("code"), str):
            codes.append(concept["code"])
        codes.extend(_concepts(concept.get("concept", [])))
    return codes


class Terminology:
    """Expands the package's value sets (``None`` when it cannot)."""

    def __init__(self, package: FrCorePackage) -> None:
        self.package = package
        self.expand = cache(self._expand)

    def _system_codes(self, system: str) -> list[str] | None:
        if system in CORE_CODE_SYSTEMS:
            return list(CORE_CODE_SYSTEMS[system])
        code_system = self.package.code_system(system)
        if code_system is None or code_system.get("content") not in (None, "complete"):
            return None
        return _concepts(code_system.get("concept", []))

    def _include(self, include: Json) -> set[tuple[str, str]] | None:
        system = canonical(include.get("system", ""))
        codes: set[tuple[str, str]] | None = None
        if "concept" in include:
            codes = {(system, c["code"]) for c in include["concept"] if "code" in c}
        elif system:
            if include.get("filter"):
                return None
            listed = self._system_codes(system)
            if listed is None:
                return None
            codes = {(system, c) for c in listed}
        for value_set in include.get("valueSet", []):
            inner = self.expand(canonical(value_set))
            if inner is None:
                return None
            codes = set(inner) if codes is None else codes & inner
        return codes

    def _expand(self, url: str) -> Codes | None:
        value_set = self.package.value_set(url)
        if value_set is None:
            system = CORE_VALUE_SETS.get(url)
            if system is None:
                return None
            return frozenset((system, c) for c in CORE_CODE_SYSTEMS[system])
        compose = value_set.get("compose", {})
        codes: set[tuple[str, str]] = set()
        for include in compose.get("include", []):
            part = self._include(include)
            if part is None:
                return None
            codes |= part
        for exclude in compose.get("exclude", []):
            part = self._include(exclude)
            if part is None:
                return None
            codes -= part
        return frozenset(codes)

    def _excluded(self, url: str) -> Codes:
        """Codes a value set's ``exclude`` lists explicitly."""
        value_set = self.package.value_set(url) or {}
        return frozenset(
            (canonical(ex.get("system", "")), c["code"])
            for ex in value_set.get("compose", {}).get("exclude", [])
            for c in ex.get("concept", [])
            if "code" in c
        )

    def contains(self, url: str, value: Any, type_code: str) -> bool | None:
        """Whether ``value`` (of FHIR type ``type_code``) is in the value set; ``None``
        when the value set cannot be expanded (unless the value is one it excludes)."""
        codes = self.expand(canonical(url))
        if codes is None:
            excluded = self._excluded(canonical(url))
            if excluded and self._member(excluded, value, type_code):
                return False
            return None
        return self._member(codes, value, type_code)

    @staticmethod
    def _member(codes: Codes, value: Any, type_code: str) -> bool | None:
        if type_code in ("code", "string", "uri"):
            return isinstance(value, str) and any(code == value for _, code in codes)
        if not isinstance(value, dict):
            return False
        if type_code in ("Coding", "Quantity"):
            return (canonical(str(value.get("system", ""))), str(value.get("code", ""))) in codes
        if type_code == "CodeableConcept":
            return any(
                (canonical(str(c.get("system", ""))), str(c.get("code", ""))) in codes
                for c in value.get("coding", [])
                if isinstance(c, dict)
            )
        return None


__all__ = ["Terminology"]
