"""FR Core conformance checker: validates FHIR resources (and transaction Bundles) against
the FR Core StructureDefinitions, ValueSets and CodeSystems of a published release, read
at run time from the shared corpus (``fhir/fr-core/<version>/package.tgz``).

    from engine.formats.fhir.frcore import frcore_checker
    findings = frcore_checker().check(bundle)      # [] when conformant
    str(findings[0])
    # Bundle.entry[0].resource.gender: code not in the required value set
    #     fr-core-vs-patient-gender [binding; fr-core-patient]

Findings name the instance path, the rule and the profile; never a value. See
``docs/fr-core.md`` for the rules applied, the version chosen and what is not checked.
"""

from __future__ import annotations

from functools import cache

from engine.formats.fhir.frcore.checker import FrCoreChecker
from engine.formats.fhir.frcore.package import (
    DEFAULT_VERSION,
    VERSIONS,
    FrCoreUnavailable,
    package_path,
)
from engine.formats.fhir.frcore.walker import Finding


@cache
def frcore_checker(version: str = DEFAULT_VERSION) -> FrCoreChecker:
    """The checker of ``version`` (one per process). Raises :class:`FrCoreUnavailable`
    when the corpus does not hold that release."""
    return FrCoreChecker(version)


def frcore_available(version: str = DEFAULT_VERSION) -> bool:
    return package_path(version).is_file()


__all__ = [
    "DEFAULT_VERSION",
    "VERSIONS",
    "Finding",
    "FrCoreChecker",
    "FrCoreUnavailable",
    "frcore_available",
    "frcore_checker",
]
