"""Value-set membership for required bindings, from the ValueSets and CodeSystems of the
FR Core package.

A value set is expanded from its ``compose``: listed concepts, whole code systems of the
package, and included value sets. One that includes anything the package does not hold
(HL7 core and THO value sets, ANS NOS terminologies) cannot be expanded here: the binding is
then reported as not checked, never as passed or failed.
"""

from __future__ import annotations

from functools import cache
from typing import Any

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
            return None
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

    def contains(self, url: str, value: Any, type_code: str) -> bool | None:
        """Whether ``value`` (of FHIR type ``type_code``) is in the value set; ``None``
        when the value set cannot be expanded from the package."""
        codes = self.expand(canonical(url))
        if codes is None:
            return None
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
