"""PAM-FR validation: the samples and the valid ANS messages are clean, SGL/sortie.er7 is
reported with its ZBE errors, and each rule family finds what it should."""

from __future__ import annotations

import pytest

from engine.formats.hl7v2 import parse, split_batch
from engine.formats.hl7v2.pamfr.findings import Finding, is_nm, is_ts
from engine.formats.hl7v2.pamfr.validation import validate
from tests.engine.formats.hl7v2.pamfr.support import (
    ANS,
    VALID_ANS_PAM,
    needs_corpus,
    sample,
    sample_names,
    with_event,
    with_segment,
)

A01 = sample("adt_a01_admission.hl7")


def found(raw: bytes) -> list[tuple[str, int, str]]:
    return [(f.location, f.code, f.severity.value) for f in validate(parse(raw))]


def errors(raw: bytes) -> list[tuple[str, int]]:
    return [(f.location, f.code) for f in validate(parse(raw)) if f.is_error]


@pytest.mark.parametrize("name", sample_names())
def test_every_sample_passes_strict_validation_without_any_finding(name: str) -> None:
    assert validate(parse(sample(name))) == []


@needs_corpus
def test_every_ans_message_parses() -> None:
    files = [p for p in sorted(ANS.rglob("*")) if p.is_file() and p.suffix.lower() != ".xml"]
    assert len(files) == 65
    for path in files:
        for raw in split_batch(path.read_bytes()):
            msg = parse(raw)
            assert msg.header.message_type and len(msg) >= 2, path


@needs_corpus
@pytest.mark.parametrize("name", VALID_ANS_PAM)
def test_valid_ans_pam_fr_messages_have_no_error(name: str) -> None:
    findings = validate(parse((ANS / name).read_bytes()))
    assert [f for f in findings if f.is_error] == []
    assert findings == []


@needs_corpus
def test_sgl_sortie_is_reported_with_its_zbe_errors() -> None:
    findings = validate(parse((ANS / "SGL" / "sortie.er7").read_bytes()))
    assert [(f.location, f.code) for f in findings if f.is_error] == [
        ("ZBE-3", 198),  # end of movement populated: forbidden in France
        ("ZBE-4", 101),  # action missing
        ("ZBE-5", 103),  # INSERT is not Y/N
        ("ZBE-9", 101),  # nature missing
    ]
    assert all(f.segment == "ZBE" for f in findings)
    assert "forbidden" in findings[0].text


def test_required_segments_per_event() -> None:
    assert errors(with_segment(A01, "ZBE", None)) == [("ZBE", 100)]
    assert errors(with_segment(A01, "PV1", None))[0] == ("PV1", 100)
    a47 = sample("adt_a47_ins_removal.hl7")
    assert errors(with_segment(a47, "MRG", None)) == [("MRG", 100)]
    # A28/A31 may come without PV1 (the A31 example of PAM-FR §4.4.1 has none)
    a28 = sample("adt_a28_create_patient.hl7")
    assert errors(with_segment(a28, "PV1", None)) == []
    a31 = sample("adt_a31_update_patient.hl7")
    assert errors(with_segment(a31, "PV1", None)) == []


def test_forbidden_fields() -> None:
    msg = parse(A01)
    msg.set("PID-10", "2106-3")
    msg.set("PID-22", "X")
    msg.set("PID-28", "FRA")
    assert [f for f in found(msg.to_bytes()) if f[0].startswith("PID")] == [
        ("PID-10", 198, "E"),
        ("PID-22", 198, "E"),
        ("PID-28", 198, "W"),  # vendor feeds send it: tolerated
    ]


def test_data_types_and_value_sets() -> None:
    msg = parse(A01)
    msg.set("ZBE-2", "20261340")  # month 13
    msg.set("ZFD-2", "3x")
    msg.set("ZFA-9", "OUI")
    msg.set("PV1-2", "Z")
    msg.set("PID-32", "VALI~XXXX", escape_value=False)
    assert sorted(errors(msg.to_bytes())) == [
        ("PID-32[2]", 103),
        ("PV1-2", 103),
        ("ZBE-2", 102),
        ("ZFA-9", 103),
        ("ZFD-2", 102),
    ]


def test_uncertain_tables_only_warn() -> None:
    raw = with_segment(A01, "ZFM", "ZFM|8||Q|5")  # Q in provenance, 5 in destination
    assert [f for f in found(raw) if f[0].startswith("ZFM")] == [
        ("ZFM-3", 103, "W"),
        ("ZFM-4", 103, "W"),
    ]


def test_iti31_requires_the_nda_and_the_structure_is_a_warning() -> None:
    msg = parse(A01)
    msg.set("PID-18", "")
    assert errors(msg.to_bytes()) == [("PID-18", 101)]
    wrong = with_event(A01, "A01", "ADT_A05")
    assert found(wrong) == [("MSH-9.3", 103, "W")]


def test_movement_rules_are_part_of_validation() -> None:
    z99 = parse(sample("adt_z99_update_admission.hl7"))
    z99.set("ZBE-4", "INSERT")  # a Z99 is never an insert
    assert errors(z99.to_bytes()) == [("ZBE-4", 103)]


def test_ins_rules() -> None:
    prod = A01.replace(b"1.2.250.1.213.1.4.10", b"1.2.250.1.213.1.4.8")
    bad_key = b"285074410912394"
    assert errors(prod.replace(b"285074410912393", bad_key)) == [("PID-3[2].1", 102)]
    # a test INS with a wrong key is only a warning
    assert found(A01.replace(b"285074410912393", bad_key)) == [("PID-3[2].1", 102, "W")]
    # an INS sent without VALI: warning, and the INS is integrated without it
    prov = parse(A01)
    prov.set("PID-32", "PROV")
    (finding,) = validate(prov)
    assert (finding.location, finding.severity.value) == ("PID-32", "W")
    assert "integrated without the INS" in finding.text
    unknown_oid = A01.replace(b"1.2.250.1.213.1.4.10", b"1.2.3")
    assert found(unknown_oid) == [("PID-3[2].4", 103, "W")]


def test_unknown_event_is_a_201() -> None:
    (finding,) = validate(parse(with_event(A01, "A08")))
    assert (finding.location, finding.code) == ("MSH-9", 201)


def test_finding_texts_never_quote_values() -> None:
    msg = parse(A01)
    msg.set("PID-8", "ZZTOP")
    msg.set("PID-7", "NOTADATE")
    texts = " ".join(f.text for f in validate(msg))
    assert "ZZTOP" not in texts and "NOTADATE" not in texts and texts


def test_primitive_types() -> None:
    for good in ("2026", "202611", "20261120", "202611200930", "20261120093012.1234+0100"):
        assert is_ts(good), good
    for bad in ("20261", "20260230", "20261120250000", "2026-11-20", "20261120+2500", ""):
        assert not is_ts(bad), bad
    assert is_ts("20240229") and not is_ts("20230229")
    assert is_ts("20261120", date_only=True) and not is_ts("2026112010", date_only=True)
    assert all(is_nm(v) for v in ("1", "-2.5", "+.5", "3."))
    assert not any(is_nm(v) for v in ("", ".", "1e3", "1,5", "x"))


def test_finding_location_and_ack_error() -> None:
    f = Finding(103, "bad", "ZFS", 5, occurrence=2, repetition=1, component=2)
    assert f.location == "ZFS[2]-5[1].2"
    err = f.ack_error()
    assert (err.code, err.segment, err.field, err.severity) == (103, "ZFS", 5, "E")
    assert err.text == "ZFS[2]-5[1].2: bad"


@pytest.mark.parametrize("nature", ["HMS", "SMH", "HM", "MH", "S", "LD", "DL"])
def test_movement_natures_in_any_letter_order_are_accepted(nature: str) -> None:
    msg = parse(sample("adt_a02_transfer.hl7"))
    msg.set("ZBE-9", nature)
    assert validate(msg) == []


def test_z99_with_nature_hmc_on_an_admission_is_accepted() -> None:
    msg = parse(sample("adt_z99_update_admission.hl7"))
    msg.set("ZBE-9", "HMC")
    assert validate(msg) == []
    msg.set("ZBE-9", "HMM")
    (finding,) = validate(msg)
    assert finding.location == "ZBE-9" and finding.code == 103
    assert finding.text.startswith("movement nature is not a combination of S, H, M, L, D")


def test_field_finding_texts_say_what_was_wrong() -> None:
    msg = parse(A01)
    msg.set("ZBE-5", "X")
    msg.set("ZBE-2", "")
    msg.set("PID-10", "2106-3")
    texts = {f.location: f.ack_error().text for f in validate(msg)}
    assert texts["ZBE-5"] == (
        "ZBE-5: historic movement indicator (Y or N) is not a code of its PAM-FR table"
        " (one of N, Y)"
    )
    assert texts["ZBE-2"] == "ZBE-2: movement start date/time is missing; PAM-FR requires it"
    assert texts["PID-10"] == "PID-10: race is forbidden in France, but the field is valued"
