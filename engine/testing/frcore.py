"""The FR Core hook of the test runner: every FHIR output of a map case or route case must
pass the FR Core check (:mod:`engine.formats.fhir.frcore`); an error finding fails the case.

Warnings (``dom-6``: no narrative; ``fr-core-3``) do not fail a case. When the shared corpus
(and so the FR Core package) is absent, the check is skipped: ``ABSENT`` says why.
"""

from __future__ import annotations

import json

from engine.corpus import ABSENT
from engine.formats.fhir.frcore import frcore_available, frcore_checker

FHIR_JSON = "application/fhir+json"


def frcore_skipped() -> str | None:
    """Why the FR Core check does not run here, or ``None`` when it does."""
    return None if frcore_available() else ABSENT


def frcore_problems(body: bytes, content_type: str, destination: str) -> list[str]:
    """``destination: FR Core: <finding>`` for each error finding of a FHIR JSON output."""
    if content_type.split(";")[0].strip() != FHIR_JSON or frcore_skipped() is not None:
        return []
    try:
        output = json.loads(body)
    except ValueError:
        return [f"{destination}: FR Core: the output is not JSON"]
    return [
        f"{destination}: FR Core: {finding}"
        for finding in frcore_checker().check(output)
        if finding.severity == "error"
    ]


__all__ = ["FHIR_JSON", "frcore_problems", "frcore_skipped"]
