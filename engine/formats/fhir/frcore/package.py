"""The FR Core conformance resources, read at run time from the published IG package in the
shared corpus (``<corpus>/fhir/fr-core/<version>/package.tgz``, byte-identical to what the
IG publisher released): StructureDefinitions (profiles, extensions, datatype profiles),
ValueSets and CodeSystems, indexed by canonical URL. Nothing is copied into the project.

Canonical references in 2.2.0 carry a version (``…|2.2.0``, ``…|4.0.1``); lookups strip it.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from engine.corpus import CORPUS

#: The FR Core version checked by default: the current release (2026-03-25).
DEFAULT_VERSION = "2.2.0"
VERSIONS = ("2.1.0", "2.2.0")
FR_CORE_BASE = "https://hl7.fr/ig/fhir/core/"

Json = dict[str, Any]


class FrCoreUnavailable(LookupError):
    """The FR Core package of the requested version is not in the corpus."""


def canonical(url: str) -> str:
    """A canonical URL without its ``|version``."""
    return url.split("|", 1)[0]


def package_path(version: str = DEFAULT_VERSION, corpus: Path = CORPUS) -> Path:
    return corpus / "fhir" / "fr-core" / version / "package.tgz"


@dataclass
class FrCorePackage:
    """Conformance resources of one FR Core release, by canonical URL."""

    version: str
    structures: dict[str, Json] = field(default_factory=dict)
    value_sets: dict[str, Json] = field(default_factory=dict)
    code_systems: dict[str, Json] = field(default_factory=dict)

    def structure(self, url: str) -> Json | None:
        return self.structures.get(canonical(url))

    def value_set(self, url: str) -> Json | None:
        return self.value_sets.get(canonical(url))

    def code_system(self, url: str) -> Json | None:
        return self.code_systems.get(canonical(url))

    def profiles_of(self, resource_type: str) -> list[str]:
        """URLs of the constraint profiles whose type is ``resource_type``."""
        return [
            url
            for url, sd in self.structures.items()
            if sd.get("type") == resource_type and sd.get("derivation") == "constraint"
        ]


def _add(package: FrCorePackage, resource: Json) -> None:
    url = resource.get("url")
    if not isinstance(url, str):
        return
    kind = resource.get("resourceType")
    if kind == "StructureDefinition" and "snapshot" in resource:
        package.structures[canonical(url)] = resource
    elif kind == "ValueSet":
        package.value_sets[canonical(url)] = resource
    elif kind == "CodeSystem":
        package.code_systems[canonical(url)] = resource


@cache
def load_package(version: str = DEFAULT_VERSION, corpus: Path = CORPUS) -> FrCorePackage:
    """Read ``package.tgz`` of ``version`` once per process.

    Raises :class:`FrCoreUnavailable` when the corpus does not have it."""
    path = package_path(version, corpus)
    if not path.is_file():
        raise FrCoreUnavailable(f"FR Core {version} package not found at {path}")
    package = FrCorePackage(version)
    with tarfile.open(path, "r:gz") as archive:
        for member in archive.getmembers():
            name = member.name
            if not member.isfile() or not name.endswith(".json"):
                continue
            if name.count("/") != 1 or not name.startswith("package/"):
                continue  # examples and other/ are not conformance resources
            stream = archive.extractfile(member)
            if stream is None:
                continue
            try:
                data = json.loads(stream.read())
            except ValueError:
                continue
            if isinstance(data, dict):
                _add(package, data)
    return package


__all__ = [
    "DEFAULT_VERSION",
    "FR_CORE_BASE",
    "VERSIONS",
    "FrCorePackage",
    "FrCoreUnavailable",
    "canonical",
    "load_package",
    "package_path",
]
