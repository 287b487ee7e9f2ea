"""The shared corpus: every ER7 file parses and round-trips; differential test vs python-hl7.

Deliberate divergences from python-hl7 0.4.5 (the differential test skips only these):

* Unescaping: python-hl7 maps ``\\H\\``/``\\N\\`` to ``_``, ``\\.br\\`` to CR, drops unknown
  sequences and an unterminated trailing escape (bug #84: ``\\E\\R\\`` gives ``\\R``);
  we keep all of those verbatim (no information loss). ``\\Xhh\\`` above 0x7F: python-hl7
  maps each byte to a code point (ISO 8859-1), we decode the bytes in the message charset.
  Leaves containing such sequences are compared raw only.
* python-hl7 strips leading/trailing whitespace of the whole message; we keep every byte.
  The comparison therefore feeds python-hl7 the text with CR terminators and compares the
  last field after the same strip.
"""

from __future__ import annotations

import re
from pathlib import Path

import hl7
import pytest

from engine.formats.hl7v2 import Message, Segment, parse, split_batch, unescape
from tests.engine.formats.hl7v2.samples import ADT_A01, CORPUS, corpus_hl7_files

FILES = corpus_hl7_files() if CORPUS.is_dir() else []
NO_CORPUS = f"shared corpus not found at {CORPUS}"
PARAMS = [pytest.param(p, id=str(p.relative_to(CORPUS))) for p in FILES] or [
    pytest.param(None, marks=pytest.mark.skip(reason=NO_CORPUS), id="no-corpus")
]


def _messages(path: Path) -> list[bytes]:
    return split_batch(path.read_bytes())


def _walk(msg: Message) -> int:
    """Read every element through the public API; returns the number of leaves."""
    leaves = 0
    for seg in msg:
        for n in range(1, len(seg) + 1):
            for r, _ in enumerate(seg.repetitions(n), 1):
                for c, _ in enumerate(seg.components(n, r), 1):
                    for s, _ in enumerate(seg.subcomponents(n, r, c), 1):
                        seg.get(n, r, c, s)
                        leaves += 1
    return leaves


def test_corpus_is_complete() -> None:
    if not FILES:
        pytest.skip(NO_CORPUS)
    tops = {p.relative_to(CORPUS).parts[0] for p in FILES}
    assert tops == {"ans", "fhir-converter"}
    assert len(FILES) >= 200
    no_ext = [p for p in FILES if not p.suffix]
    assert len(no_ext) == 6  # the ZAM business acks, loaded by content


@pytest.mark.parametrize("path", PARAMS)
def test_file_parses_and_round_trips(path: Path) -> None:
    raw = path.read_bytes()
    parts = split_batch(raw)
    assert parts
    assert b"".join(parts) == raw.removeprefix(b"\xef\xbb\xbf")
    for part in parts:
        msg = parse(part)
        assert msg.to_bytes() == part
        assert msg.segment_ids[0] == "MSH"
        assert msg.header.control_id == msg.get("MSH-10")
        assert _walk(msg) > 0


@pytest.mark.parametrize("path", PARAMS)
def test_differential_against_python_hl7(path: Path) -> None:
    for part in _messages(path):
        ours = parse(part)
        text = ours.to_text().replace("\r\n", "\r").replace("\n", "\r")
        theirs = hl7.parse(text)
        compared = _compare(ours, theirs)
        assert compared > 0


def _compare(ours: Message, theirs: hl7.Message) -> int:
    their_segs = [s for s in theirs if str(s).strip()]
    our_segs = ours.segments()
    assert [str(s[0]) for s in their_segs] == [s.name for s in our_segs]
    leaves = 0
    for k, (mine, other) in enumerate(zip(our_segs, their_segs, strict=True)):
        last_segment = k == len(our_segs) - 1
        assert len(mine) + 1 == len(other), f"{mine.name}: field count"
        for n in range(1, len(other)):
            expected = _tree(other[n])
            if last_segment and n == len(other) - 1:
                # python-hl7 stripped the message end: compare structure on stripped text
                assert mine.field(n).strip() == str(other[n])
                assert _tree(_strip_field(mine.field(n), ours)) == expected
                continue
            got = _our_tree(mine, n)
            assert got == expected, f"{mine.name}-{n}"
            leaves += _compare_unescaped(mine, n, got, theirs, ours)
    return leaves


def _compare_unescaped(
    mine: Segment, n: int, tree: list[list[list[str]]], theirs: hl7.Message, ours: Message
) -> int:
    count = 0
    d = ours.delimiters
    is_delimiter_field = n <= 2 and mine.name == "MSH"
    for r, comps in enumerate(tree, 1):
        for c, subs in enumerate(comps, 1):
            for s, leaf in enumerate(subs, 1):
                value = mine.get(n, r, c, s)
                if is_delimiter_field:
                    assert value == leaf
                    continue
                assert value == unescape(leaf, d, codec=ours.codec)
                if _portable(leaf, d.escape):
                    assert value == theirs.unescape(leaf), f"{mine.name}-{n}[{r}].{c}.{s}"
                count += 1
    return count


_SIMPLE = frozenset("FSTRE")
_HEX_ASCII = re.compile(r"X(?:[0-7][0-9A-Fa-f])+")


def _portable(leaf: str, esc: str) -> bool:
    """True when python-hl7 and we must agree on unescaping (see module docstring)."""
    if esc not in leaf:
        return True
    parts = leaf.split(esc)
    if len(parts) % 2 == 0:  # an unterminated escape sequence
        return False
    return all(seq in _SIMPLE or _HEX_ASCII.fullmatch(seq) for seq in parts[1::2])


def _tree(node: object, levels: int = 3) -> list[list[list[str]]]:
    return _norm(node, levels)  # type: ignore[return-value]


def _norm(node: object, levels: int) -> object:
    if levels == 0:
        return str(node)
    if isinstance(node, str):
        return [_norm(node, levels - 1)]
    assert isinstance(node, list)
    return [_norm(child, levels - 1) for child in node]


def _our_tree(seg: Segment, n: int) -> list[list[list[str]]]:
    return [
        [seg.subcomponents(n, r, c) for c in range(1, len(seg.components(n, r)) + 1)]
        for r in range(1, len(seg.repetitions(n)) + 1)
    ]


def _strip_field(value: str, msg: Message) -> hl7.Field:
    """python-hl7 strips the whole message: re-split our stripped last field like it does."""
    text = f"MSH{msg.delimiters.field}{msg.raw('MSH-2')}\rZZZ{msg.delimiters.field}{value.strip()}"
    return hl7.parse(text)[1][1]


def test_inline_sample_differential() -> None:
    ours = parse(ADT_A01)
    assert _compare(ours, hl7.parse(ADT_A01.decode())) > 50


# -- facts from the corpus INDEX -----------------------------------------------------------


def _corpus(rel: str) -> Path:
    path = CORPUS / rel
    if not path.exists():
        pytest.skip(f"{NO_CORPUS} ({rel})")
    return path


def test_pam_fr_admission_values() -> None:
    msg = parse(_corpus("ans/SGL/admission.er7").read_bytes())
    assert msg.terminator == "\n"
    assert msg.raw("MSH-9") == "ADT^A01^ADT_A01"
    assert msg.raw("MSH-12") == "2.5^FRA^2.11"
    assert msg.get("MSH-18") == "UNICODE UTF-8"
    assert msg.get("PID-3[2].1") == "279035121518989"
    assert msg.get("PID-3[2].4.2") == "1.2.250.1.213.1.4.10"
    assert msg.get("PID-32") == "VALI"
    assert msg.raw("ZBE-1") == "001^CHU-X^000897406"
    assert (msg.get("ZBE-4"), msg.get("ZBE-5"), msg.get("ZBE-9")) == ("INSERT", "N", "HMS")
    assert msg.get("ZBE-7.10") == "6268"
    assert (msg.get("ZFA-1"), msg.get("ZFA-9"), msg.get("ZFA-11")) == ("ACTIF", "INO", "IC")


def test_last_segment_without_newline() -> None:
    raw = _corpus("ans/SGL/sortie.er7").read_bytes()
    assert not raw.endswith((b"\r", b"\n"))
    msg = parse(raw)
    assert msg.segment_ids[-1] == "ZBE"
    assert msg.get("ZBE-10") == "HMS"  # the shifted field the validator must flag


def test_zam_business_ack_without_extension() -> None:
    rel = "ans/Volets/TRANS_DOC_CDA_HL7V2/V2.1/ORU/Transmission initiale ORU/"
    msg = parse(_corpus(rel + "Message metier reception DMP").read_bytes())
    assert msg.raw("MSH-9") == "ZAM^Z01^ZAM_Z01"
    assert msg.get("OBX-4") == "015"
    assert msg.get("ERR-3") == "207"
    assert msg.get("ERR-5.2") == "DMP fermé"


def test_adt04_23_holds_one_message() -> None:
    # INDEX.md counts 3 "MSH" here, but two are PID/IN1 field values, not segments.
    raw = _corpus("fhir-converter/ADT04-23.hl7").read_bytes()
    assert raw.count(b"MSH|") == 3
    (only,) = split_batch(raw)
    assert parse(only).get_all("IN1-2.1") == ["PAR", "FRI"]


def test_bom_file() -> None:
    raw = _corpus("fhir-converter/VXU.hl7").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    msg = parse(raw)
    assert msg.to_bytes() == raw
    assert msg.get("MSH-9") == "VXU"
