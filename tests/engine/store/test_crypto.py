"""Sealed payloads: round trip, tamper detection, keyring parsing."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ConfigError, StoreError
from engine.store.crypto import Keyring, PayloadCipher, new_key_line

(K1, LINE1), (K2, LINE2) = new_key_line(), new_key_line()
CIPHER = PayloadCipher(Keyring.parse(f"{LINE2}\n{LINE1}"))


@settings(max_examples=200)
@given(st.binary(max_size=4096), st.text(min_size=1, max_size=40))
def test_what_is_sealed_opens_only_in_its_own_row(plain: bytes, context: str) -> None:
    sealed, key_id = CIPHER.seal(plain, context)
    assert key_id == K2 and len(sealed) == 4 + 1 + len(K2) + 12 + len(plain) + 16
    assert CIPHER.open(sealed, key_id, context) == plain
    with pytest.raises(StoreError, match="fails authentication"):
        CIPHER.open(sealed, key_id, context + "x")


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=512), st.data())
def test_any_altered_byte_is_detected(plain: bytes, data: st.DataObject) -> None:
    sealed, key_id = CIPHER.seal(plain, "message M")
    header = 4 + 1 + len(K2.encode())
    index = data.draw(st.integers(header, len(sealed) - 1))
    altered = bytearray(sealed)
    altered[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(StoreError, match="fails authentication"):
        CIPHER.open(bytes(altered), key_id, "message M")


def test_older_keys_still_open_and_the_first_one_seals() -> None:
    old = PayloadCipher(Keyring.parse(LINE1))
    sealed, key_id = old.seal(b"MSH|...", "message M")
    assert key_id == K1 and CIPHER.open(sealed, key_id, "message M") == b"MSH|..."
    assert CIPHER.current == K2


def test_keyring_from_the_environment_form_and_comments() -> None:
    text = f"# store keys\n\n{LINE1.replace(' ', ':', 1)}, {LINE2}\n"
    ring = Keyring.parse(text)
    assert ring.current == K1 and set(ring.keys) == {K1, K2}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "holds no key"),
        ("k1 " + base64.b64encode(b"short").decode(), "entry 1: expected"),
        ("bad id! " + base64.b64encode(bytes(32)).decode(), "entry 1: expected"),
        (f"{LINE1}\n{LINE1}", "appears twice"),
    ],
)
def test_a_bad_keyring_names_the_entry_never_the_key(text: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error) as raised:
        Keyring.parse(text)
    assert LINE1.split()[1] not in str(raised.value)
