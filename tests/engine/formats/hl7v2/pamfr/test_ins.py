"""INS: NIR check key (the notes' vectors and a property), OIDs in PID-3, PID-32, the
"INS without VALI" rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.formats.hl7v2 import parse
from engine.formats.hl7v2.pamfr.ins import (
    RULE_NO_VALI,
    InsKind,
    identity_status,
    ins_identifiers,
    integrate_identity,
    is_valid_nir,
    nir_key,
)
from tests.engine.formats.hl7v2.pamfr.support import sample

# French interop notes §2.5: the CNAM library's vectors (body -> key).
CNAM_VECTORS = [
    ("2 55 08 14 168 025", 38),
    ("2 94 03 75 120 005", 91),
    ("1 53 12 45 007 231", 60),
    ("2 84 05 2A 321 025", 52),  # Corsica 2A -> 19
    ("2B34567890123", 78),  # substitution unit case (not a real NIR)
    ("1234567890123", 11),
]
VALID = [
    "279035121518989",  # PAT-TROIS, CI-SIS test patient
    "162018885045327",
    "277076322082910",
    "260058815400233",
    "276037510669326",
    "255081416802538",
    "284052A32102552",  # Corsica 2A
    "2550814168025 38",
]
INVALID = [
    "221042545611404",
    "223042545611404",
    "224027511583555",
    "260058815400244",  # the NIA example of PAM-FR §4.4.1
    "222127505611201",
    "276037510669380",
    "170017510112313",
    "123456789012244",  # FR Core example
    "27903512151898",  # 14 characters
    "2790351215189890",  # 16 characters
    "27903512151898X",
    "2B4567890123478",  # 2B outside the department position
]


@pytest.mark.parametrize(("body", "key"), CNAM_VECTORS)
def test_nir_key_matches_the_cnam_vectors(body: str, key: int) -> None:
    assert nir_key(body) == key


@pytest.mark.parametrize("nir", VALID)
def test_valid_nirs_are_accepted(nir: str) -> None:
    assert is_valid_nir(nir)


@pytest.mark.parametrize("nir", INVALID)
def test_invalid_nirs_are_refused(nir: str) -> None:
    assert not is_valid_nir(nir)


def test_corsica_departments_are_substituted_at_the_department_position() -> None:
    assert nir_key("1840520321025") != nir_key("184052A321025")  # 2A is 19, not 20
    assert nir_key("184052A321025") == nir_key("1840519321025")
    assert nir_key("184052B321025") == nir_key("1840518321025")


def test_nir_key_refuses_a_body_that_is_not_13_digits() -> None:
    for body in ("123", "12345678901234", "12345X7890123", "１２３４５６７８９０１２３"):
        with pytest.raises(ValueError, match="13 digits"):
            nir_key(body)


_DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=1)
_BODY = st.tuples(
    st.text(alphabet="0123456789", min_size=5, max_size=5),
    st.one_of(
        st.text(alphabet="0123456789", min_size=2, max_size=2), st.sampled_from(["2A", "2B"])
    ),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
).map("".join)


@given(_BODY, st.integers(min_value=0, max_value=99))
def test_the_key_check_accepts_exactly_the_matching_key(body: str, key: int) -> None:
    assert is_valid_nir(f"{body}{key:02d}") == (key == nir_key(body))
    assert 1 <= nir_key(body) <= 97
    assert is_valid_nir(f"{body}{nir_key(body):02d}")


def _pid3(*reps: str, pid32: str = "VALI") -> bytes:
    pid = f"PID|1||{'~'.join(reps)}||X^Y||19800101|F" + "|" * 24 + pid32
    return f"MSH|^~\\&|A|B|C|D|20260101||ADT^A31^ADT_A05|1|P|2.5\rEVN||20260101\r{pid}\r".encode()


NIR = "279035121518989"


@pytest.mark.parametrize(
    ("oid", "kind", "test"),
    [
        ("1.2.250.1.213.1.4.8", InsKind.NIR, False),
        ("1.2.250.1.213.1.4.9", InsKind.NIA, False),
        ("1.2.250.1.213.1.4.10", InsKind.NIR, True),
        ("1.2.250.1.213.1.4.11", InsKind.NIR, True),
    ],
)
def test_ins_is_recognised_by_its_oid(oid: str, kind: InsKind, test: bool) -> None:
    msg = parse(_pid3("123^^^CHU^PI", f"{NIR}^^^ASIP-SANTE-INS-NIR&{oid}&ISO^INS"))
    (ins,) = ins_identifiers(msg)
    assert (ins.kind, ins.test, ins.repetition, ins.oid) == (kind, test, 2, oid)
    assert ins.key_valid


def test_the_nir_as_billing_number_or_another_oid_is_not_an_ins() -> None:
    nh = f"{NIR}^^^ASSURANCE-MALADIE&1.2.250.1.213.1.4.8&ISO^NH"
    other = f"{NIR}^^^X&1.2.3.4&ISO^INS"
    assert ins_identifiers(parse(_pid3("123^^^CHU^PI", nh, other))) == ()


def test_the_nir_is_preferred_over_the_nia_when_both_are_sent() -> None:
    nia = "260058815400233^^^ASIP-SANTE-INS-NIA&1.2.250.1.213.1.4.9&ISO^INS"
    nir = f"{NIR}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS"
    identity = integrate_identity(parse(_pid3(nia, nir)))
    assert identity.ins is not None and identity.ins.kind is InsKind.NIR


def test_identity_status_separates_status_and_attributes() -> None:
    status = identity_status(parse(_pid3("1^^^C^PI", pid32="PROV~FICT")))
    assert (status.status, status.attributes, status.raw) == ("PROV", ("FICT",), ("PROV", "FICT"))
    assert not status.qualified
    assert identity_status(parse(_pid3("1^^^C^PI", pid32="VALI~HOMA"))).qualified


def test_an_ins_without_vali_is_integrated_without_the_ins() -> None:
    ins = f"{NIR}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS"
    identity = integrate_identity(parse(_pid3("1^^^C^PI", ins, pid32="PROV")))
    assert identity.received is not None and identity.received.value == NIR
    assert identity.ins is None and identity.dropped and identity.dropped_reason == RULE_NO_VALI
    assert not identity.qualified
    kept = integrate_identity(parse(_pid3("1^^^C^PI", ins)))
    assert kept.ins == kept.received and kept.qualified and not kept.dropped


def test_an_ins_with_a_wrong_key_is_kept_but_not_qualified() -> None:
    ins = "276037510669380^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS"
    identity = integrate_identity(parse(_pid3("1^^^C^PI", ins)))
    assert identity.ins is not None and not identity.ins.key_valid and not identity.qualified


def test_samples_carry_valid_test_ins() -> None:
    identity = integrate_identity(parse(sample("adt_a01_admission.hl7")))
    assert identity.qualified and identity.ins is not None and identity.ins.test
