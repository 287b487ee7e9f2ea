"""Payloads encrypted at rest: AES-256-GCM under a keyring, the key id kept with each one.

A keyring is text, one key per line (``<id> <base64 of 32 bytes>``; ``#`` comments and
blank lines ignored; in an environment variable the keys may be separated by commas).
The **first** key encrypts; every key decrypts, so a new key goes first and the old ones
stay until ``passerelle keys rotate`` has re-encrypted everything under the new one.

A sealed payload is ``PSE1 | len(id) | id | nonce (12) | ciphertext+tag``. The row's id
(message id, attempt number) is the associated data: a payload copied to another row does
not decrypt. Only payloads are sealed; ids, states and metadata stay queryable.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.errors import ConfigError, StoreError
from engine.store.base import AttemptPayload

MAGIC = b"PSE1"
KEY_BYTES = 32
NONCE_BYTES = 12
_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Keyring:
    """Keys by id; ``current`` encrypts."""

    keys: dict[str, bytes]
    current: str

    @classmethod
    def parse(cls, text: str, origin: str = "the keyring") -> Keyring:
        """Read keyring text.

        Raises:
            ConfigError: no key, a malformed line (named by its number, never its key), a
                key that is not 32 bytes, or an id used twice.
        """
        keys: dict[str, bytes] = {}
        entries = [e.strip() for line in text.splitlines() for e in line.split(",")]
        for number, entry in enumerate(entries, 1):
            if not entry or entry.startswith("#"):
                continue
            key_id, _, encoded = entry.replace(":", " ", 1).partition(" ")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if not _ID.match(key_id) or len(key) != KEY_BYTES:
                raise ConfigError(
                    f"{origin}, entry {number}: expected '<id> <base64 of {KEY_BYTES} bytes>'"
                    " (make one with 'passerelle keys new')"
                )
            if key_id in keys:
                raise ConfigError(f"{origin}: key id '{key_id}' appears twice")
            keys[key_id] = key
        if not keys:
            raise ConfigError(f"{origin} holds no key (make one with 'passerelle keys new')")
        return cls(keys, next(iter(keys)))

    @classmethod
    def read(cls, path: Path) -> Keyring:
        """Read a keyring file.

        Raises:
            ConfigError: it cannot be read, or its content is invalid.
        """
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"store keyring {path}: {exc.strerror or exc}") from exc
        return cls.parse(text, f"store keyring {path}")


def new_key_line() -> tuple[str, str]:
    """A new random key: (its id, its keyring line)."""
    key_id = "k" + secrets.token_hex(4)
    return key_id, f"{key_id} {base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


class PayloadCipher:
    """Seals and opens payloads; without a keyring it stores them as they are."""

    def __init__(self, keyring: Keyring | None = None) -> None:
        self.keyring = keyring

    @property
    def current(self) -> str | None:
        """The id new payloads are sealed under (None: stored in clear)."""
        return self.keyring.current if self.keyring else None

    def seal(
        self, plain: bytes, context: str, key_id: str | None = None
    ) -> tuple[bytes, str | None]:
        """(what to store, its key id) for ``plain`` belonging to row ``context``; under
        the current key unless ``key_id`` names another one of the keyring."""
        if self.keyring is None:
            return plain, None
        key_id = key_id or self.keyring.current
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keyring.keys[key_id]).encrypt(nonce, plain, context.encode())
        ident = key_id.encode()
        return MAGIC + bytes([len(ident)]) + ident + nonce + sealed, key_id

    def open(self, stored: bytes, key_id: str | None, context: str) -> bytes:
        """The plaintext of a stored payload (``key_id`` None: stored in clear).

        Raises:
            StoreError: the key is not in the keyring, or the payload fails authentication.
        """
        if key_id is None:
            return stored
        if self.keyring is None:
            raise StoreError(
                f"the payload of {context} is encrypted (key '{key_id}'); configure"
                " store.encryption with a keyring that holds that key"
            )
        key = self.keyring.keys.get(key_id)
        if key is None:
            raise StoreError(
                f"the payload of {context} is encrypted under key '{key_id}', which the"
                " keyring does not hold (see docs/store.md, lost keys)"
            )
        start = len(MAGIC) + 1 + stored[len(MAGIC)]
        nonce, sealed = stored[start : start + NONCE_BYTES], stored[start + NONCE_BYTES :]
        try:
            return AESGCM(key).decrypt(nonce, sealed, context.encode())
        except (InvalidTag, ValueError) as exc:
            raise StoreError(
                f"the payload of {context} fails authentication under key '{key_id}'"
                " (altered, or moved from another row)"
            ) from exc


def attempt_context(delivery_id: str, number: int, part: str) -> str:
    """The associated data of an attempt payload (``part``: ``sent`` or ``response``)."""
    return f"attempt {number} of delivery {delivery_id} ({part})"


def seal_attempt(
    cipher: PayloadCipher,
    delivery_id: str,
    number: int,
    sent: bytes | None,
    response: bytes | None,
    key_id: str | None = None,
) -> tuple[list[bytes | None], str | None]:
    """(sealed sent, sealed response) and their key id, for one attempt's payloads."""
    out: list[bytes | None] = []
    used = key_id
    for part, value in (("sent", sent), ("response", response)):
        if value is None:
            out.append(None)
            continue
        sealed, used = cipher.seal(value, attempt_context(delivery_id, number, part), key_id)
        out.append(sealed)
    return out, used


def open_attempt(row: Sequence[Any], cipher: PayloadCipher) -> AttemptPayload:
    """An attempt payload from a (delivery_id, number, sent, response, key_id) row."""
    delivery_id, number, sent, response, key_id = row
    opened = [
        cipher.open(bytes(v), key_id, attempt_context(delivery_id, number, part))
        if v is not None
        else None
        for part, v in (("sent", sent), ("response", response))
    ]
    return AttemptPayload(str(delivery_id), int(number), opened[0], opened[1])


CLEAR = PayloadCipher()
"""The cipher of a store without encryption."""

__all__ = [
    "CLEAR",
    "KEY_BYTES",
    "Keyring",
    "PayloadCipher",
    "attempt_context",
    "new_key_line",
    "open_attempt",
    "seal_attempt",
]
