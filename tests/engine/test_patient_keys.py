"""Patient identifiers of HL7v2 and CDA messages, and the index keys made from them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.formats.cda import CDA_CONTENT_TYPE
from engine.message import HL7V2, Envelope
from engine.patient_index import PatientIdKind, patient_key
from engine.patient_keys import identifiers, patient_keys
from tests.engine.formats.cda.builders import TEST_INS, cda
from tests.support.adt_messages import ELODIE, FRANCOIS, adt

SECRET = b"test-secret"
IPP, INS, NDA = PatientIdKind.IPP, PatientIdKind.INS, PatientIdKind.NDA


def hl7(raw: bytes) -> Envelope:
    return Envelope.new(channel="adt", raw=raw, content_type=HL7V2)


def test_pam_fr_admission_gives_ipp_ins_nda_and_visit() -> None:
    found = identifiers(hl7(adt("A01", 1, at="202611201000", movement="M1")))
    assert found == [
        (IPP, ELODIE.ipp),
        (INS, ELODIE.ins),
        (NDA, f"{ELODIE.ipp}-NDA"),
        (NDA, f"{ELODIE.ipp}-V1"),
    ]


def test_merge_indexes_the_ipp_merged_away() -> None:
    found = identifiers(
        hl7(
            adt(
                "A40",
                2,
                at="202611201000",
                person=FRANCOIS,
                pv1=False,
                mrg="100999^^^CHU&1.2.3&ISO^PI",
            )
        )
    )
    assert (IPP, "100999") in found and (IPP, FRANCOIS.ipp) in found


def test_ins_removal_null_is_skipped() -> None:
    found = identifiers(hl7(adt("A47", 3, at="202611201000", ins=None, pv1=False)))
    assert [kind for kind, _ in found] == [IPP, NDA]


def test_nh_under_a_nir_oid_is_an_ins_other_types_are_not_indexed() -> None:
    raw = (
        b"MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.5\r"
        b"PID|1||X1^^^&1.2.3&ISO^MR~179122A12345678^^^&1.2.250.1.213.1.4.8&ISO^NH"
        b"~SSN9^^^&1.2.999&ISO^NH~ 1234567890123 45^^^&1.2.250.1.213.1.4.10&ISO\r"
    )
    assert identifiers(hl7(raw)) == [(INS, "179122A12345678"), (INS, "1234567890123 45")]


def test_escaped_identifier_is_read_unescaped() -> None:
    raw = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.5\rPID|1||A\\T\\B^^^X^PI\r"
    assert identifiers(hl7(raw)) == [(IPP, "A&B")]


def test_cda_record_target_ins_and_local_id() -> None:
    env = Envelope.new(channel="docs", raw=cda(), content_type=CDA_CONTENT_TYPE)
    assert identifiers(env) == [(INS, TEST_INS), (IPP, "IPP0001")]


def test_keys_are_the_index_digests_distinct_and_case_insensitive() -> None:
    pid = "PID|1||ab1^^^X^PI~AB1^^^Y^PI" + "|" * 15 + "ab1"
    raw = f"MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.5\r{pid}\r".encode()
    keys = patient_keys(hl7(raw), SECRET)
    assert keys == [patient_key(SECRET, IPP, "AB1"), patient_key(SECRET, NDA, "AB1")]


def test_unreadable_or_foreign_content_has_no_keys() -> None:
    assert patient_keys(hl7(b"not hl7 at all"), SECRET) == []
    assert patient_keys(Envelope.new(channel="c", raw=b"<a", content_type="text/xml"), SECRET) == []
    assert (
        patient_keys(Envelope.new(channel="c", raw=b"{}", content_type="application/json"), SECRET)
        == []
    )
    assert patient_keys(hl7(adt("A01", 1, at="202611201000")), b"") == []


def test_identifier_count_is_bounded() -> None:
    reps = "~".join(f"{n}^^^X^PI" for n in range(500))
    raw = f"MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.5\rPID|1||{reps}\r".encode()
    assert len(patient_keys(hl7(raw), SECRET)) == 64


_HL7_CHARS = st.sampled_from(list('|^~\\&\r\nPIDMSHV1NSA0123456789"x é'))


@settings(max_examples=300, deadline=None)
@given(
    body=st.lists(_HL7_CHARS, max_size=200).map("".join),
    xml=st.binary(max_size=200),
)
def test_never_raises_on_odd_input(body: str, xml: bytes) -> None:
    raw = ("MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.5\rPID|" + body).encode()
    for kind in (HL7V2, CDA_CONTENT_TYPE):
        for data in (raw, xml, body.encode()):
            keys = patient_keys(Envelope.new(channel="c", raw=data, content_type=kind), SECRET)
            assert all(len(k) == 17 for k in keys)
