"""Patient-index digests: keyed, kind-separated, normalised, fixed size."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.patient_index import KEY_SIZE, PatientIdKind, patient_key


def test_same_identifier_same_key_whatever_the_spacing_and_case() -> None:
    assert patient_key(b"s", PatientIdKind.IPP, " ab12 ") == patient_key(
        b"s", PatientIdKind.IPP, "AB12"
    )


def test_kinds_and_secrets_give_different_keys() -> None:
    ipp = patient_key(b"s", PatientIdKind.IPP, "123")
    assert ipp != patient_key(b"s", PatientIdKind.NDA, "123")
    assert ipp != patient_key(b"t", PatientIdKind.IPP, "123")
    assert ipp[:1] == b"P"


def test_no_secret_or_empty_value_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        patient_key(b"", PatientIdKind.IPP, "1")
    with pytest.raises(ValueError, match="empty"):
        patient_key(b"s", PatientIdKind.INS, "  ")


@given(st.text(min_size=1).filter(str.strip))
def test_key_size_is_fixed_and_holds_no_plaintext(value: str) -> None:
    key = patient_key(b"secret", PatientIdKind.INS, value)
    assert len(key) == KEY_SIZE
    if len(value.strip()) >= 4:
        assert value.strip().upper().encode() not in key
