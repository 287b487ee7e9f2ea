"""PAM-FR test material: the project's samples, the ANS corpus paths, message builders."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.formats.hl7v2 import Message, parse
from tests.support.corpus import corpus_root

SAMPLES = Path(__file__).resolve().parents[5] / "samples" / "hl7v2"
ANS = corpus_root() / "hl7v2" / "ans"
CONSENTS = ANS / "Vague 2" / "Consentement_DMP_PAMFR"
NO_CORPUS = f"shared corpus {ANS} is absent"

needs_corpus = pytest.mark.skipif(not ANS.is_dir(), reason=NO_CORPUS)

CONSENT_FLAGS = {
    # file stem: (dmp.feeding ZFA-9, dmp.opposition, dmp.consultation ZFA-11) per INDEX.md §1
    "ConsentementConsultation_NonOppositionAlimentation": ("INO", "false", "IC"),
    "NonConsentementConsultation_NonOppositionAlimentation": ("INO", "false", "INC"),
    "NonConsentementConsultation_OppositionAlimentation": ("IO", "true", "INC"),
    "NonRecueillieConsentementConsultation_NonOppositionAlimentation": ("INO", "false", "NA"),
    "NonRecueillieConsentementConsultation_NonRecueillieOppositionAlimentation": (
        "NA",
        "false",
        "NA",
    ),
}
VALID_ANS_PAM = [
    "SGL/admission.er7",
    *(f"Vague 2/Consentement_DMP_PAMFR/{s}.er7" for s in CONSENT_FLAGS),
]


def sample(name: str) -> bytes:
    """The bytes of ``samples/hl7v2/<name>``."""
    return (SAMPLES / name).read_bytes()


def sample_names() -> list[str]:
    return sorted(p.name for p in SAMPLES.glob("*.hl7"))


def with_segment(raw: bytes, name: str, segment: str | None) -> bytes:
    """``raw`` (a UTF-8 sample, CR terminators) with its first ``name`` segment replaced by
    ``segment`` (appended when absent; removed when ``segment`` is None)."""
    segs = [s for s in raw.decode("utf-8").split("\r") if s]
    found = [i for i, s in enumerate(segs) if s.startswith(name + "|")]
    if segment is None:
        segs = [s for i, s in enumerate(segs) if i not in found[:1]]
    elif found:
        segs[found[0]] = segment
    else:
        segs.append(segment)
    return ("\r".join(segs) + "\r").encode("utf-8")


def with_event(raw: bytes, event: str, structure: str = "") -> bytes:
    """``raw`` with MSH-9 set to ADT^event^structure (the structure kept when not given)."""
    msg = parse(raw)
    msg.set("MSH-9.2", event)
    if structure:
        msg.set("MSH-9.3", structure)
    return msg.to_bytes()


def admission() -> Message:
    return parse(sample("adt_a01_admission.hl7"))
