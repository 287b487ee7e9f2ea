"""Every example message of the PAM-FR 2.11.1 specification text gets AA in strict mode.

The examples are read from the specification text in the shared corpus at test time
(``specs/ihe-france-pam/…v2.11.1.txt``, made with ``pdftotext -layout``): a block starts at
a line ``MSH|``; a line starting with a segment id starts a segment; a line the PDF wrapped
(it holds an HL7 delimiter, or is one word) continues the segment above; anything else
ends the block. Each example is named by the section it is in.
"""

from __future__ import annotations

import re

import pytest

from engine.corpus import ABSENT, CORPUS
from engine.formats.hl7v2.pamfr.ins import nir_key
from engine.intake.hl7v2 import Hl7IntakeOptions, examine
from engine.testing.runner import ack_code

SPEC = (
    CORPUS
    / "specs"
    / "ihe-france-pam"
    / "Publication-IHE_FRANCE_PAM_National_Extension_v2.11.1.txt"
)
STRICT = Hl7IntakeOptions(profile="pam_fr", validation="strict")
_SEGMENT = re.compile(r"^[A-Z][A-Z0-9]{2}\|")
_SECTION = re.compile(r"^\s*(\d+(?:\.\d+)+)\s+\S")
_WRAPPED = re.compile(r"[|^~\\&]")

#: Examples that are not messages: a lone MSH illustrating MSH-12 (§6.5).
NOT_MESSAGES = {"6.5": "illustrates MSH-12 with a lone MSH segment, not a message"}
#: Examples whose illustration data break a rule the specification states: "il est
#: nécessaire de véhiculer l'INS avec sa clé" (§6.6) — their INS 260058815400244 carries
#: the check key 44 where its first 13 digits give 33. Everything else in them is accepted
#: (see test_the_examples_with_a_wrong_ins_key_are_refused_for_that_only).
WRONG_INS_KEY = {
    "4.4.1": "A31, INS-NIA 260058815400244: key 44, 33 expected",
    "4.4.2": "A47, INS-NIR 260058815400244: key 44, 33 expected",
}

pytestmark = pytest.mark.skipif(not SPEC.is_file(), reason=ABSENT)


def spec_examples() -> dict[str, list[str]]:
    """{section: segments} of every block starting with MSH in the specification text."""
    lines = SPEC.read_text(encoding="utf-8").splitlines()
    found: dict[str, list[str]] = {}
    section, i = "", 0
    while i < len(lines):
        heading = _SECTION.match(lines[i])
        if heading:
            section = heading.group(1)
        if not lines[i].strip().startswith("MSH|"):
            i += 1
            continue
        segments: list[str] = []
        while i < len(lines):
            line = lines[i].strip()
            if _SEGMENT.match(line):
                segments.append(line)
            elif segments and line and (_WRAPPED.search(line) or " " not in line):
                segments[-1] += line
            else:
                break
            i += 1
        found[section] = segments
    return found


def as_message(segments: list[str]) -> bytes:
    return ("\r".join(segments) + "\r").encode("utf-8")


def test_the_examples_are_found() -> None:
    examples = spec_examples()
    assert sorted(examples) == ["4.4.1", "4.4.2", "4.4.3", "4.4.4", "6.5"]
    assert [s[:3] for s in examples["4.4.1"]] == ["MSH", "EVN", "PID"]  # A31 without PV1
    assert [s[:3] for s in examples["4.4.3"]] == ["MSH", "EVN", "PID", "MRG"]
    assert "ADT^A31^ADT_A05" in examples["4.4.1"][0]


@pytest.mark.parametrize(
    "section", [s for s in ("4.4.1", "4.4.2", "4.4.3", "4.4.4") if s not in WRONG_INS_KEY]
)
def test_every_valid_example_gets_aa_in_strict_mode(section: str) -> None:
    exam = examine(as_message(spec_examples()[section]), STRICT)
    assert ack_code(exam.ack()) == "AA", exam.reason
    assert exam.reason == ""


@pytest.mark.parametrize("section", sorted(WRONG_INS_KEY))
def test_the_examples_with_a_wrong_ins_key_are_refused_for_that_only(section: str) -> None:
    raw = as_message(spec_examples()[section])
    exam = examine(raw, STRICT)
    assert ack_code(exam.ack()) == "AE"
    assert [(e.code, e.text.split(":")[0]) for e in exam.errors] == [(102, "PID-3[2].1")]
    # With the key its first 13 digits give, the same example is accepted
    fixed = raw.replace(
        b"260058815400244", b"2600588154002" + str(nir_key("2600588154002")).encode()
    )
    exam = examine(fixed, STRICT)
    assert ack_code(exam.ack()) == "AA", exam.reason


def spec_segments() -> list[str]:
    """The example segments the specification shows outside a message (ZFS, ZFV, PV2,
    ACC, OBX...), wrapped lines joined."""
    lines = SPEC.read_text(encoding="utf-8").splitlines()
    found: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("MSH|"):  # a message: its segments are checked above
            while i < len(lines) and lines[i].strip():
                i += 1
            continue
        if _SEGMENT.match(line):
            segment = line
            while i + 1 < len(lines):
                nxt = lines[i + 1].strip()
                if not nxt or _SEGMENT.match(nxt) or not (_WRAPPED.search(nxt) or " " not in nxt):
                    break
                segment += nxt
                i += 1
            found.append(segment)
        i += 1
    return found


def test_every_example_segment_is_accepted_in_a_message() -> None:
    """Each segment example, put in an A01 (in place of the segment of the same id), leaves
    the message without error."""
    from tests.engine.formats.hl7v2.pamfr.support import sample, with_segment

    segments = spec_segments()
    assert sorted({s[:3] for s in segments}) == ["ACC", "OBX", "PV2", "ZFS", "ZFV"]
    for segment in segments:
        raw = with_segment(sample("adt_a01_admission.hl7"), segment[:3], segment)
        exam = examine(raw, STRICT)
        assert ack_code(exam.ack()) == "AA", (segment[:3], exam.reason)


def test_what_is_not_a_message_is_listed() -> None:
    examples = spec_examples()
    for section in NOT_MESSAGES:
        assert len(examples[section]) == 1 and examples[section][0].startswith("MSH|")
