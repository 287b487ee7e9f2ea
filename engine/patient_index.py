"""Keyed digests of patient identifiers, so the store can find a patient's messages
without holding any identifier in clear.

A key is one byte for the identifier kind followed by the first 16 bytes of
HMAC-SHA256(secret, kind | normalised value). Without the secret (``store.patient_index``
in routes.yaml) a digest cannot be tested against a guessed IPP. The assigning authority
is not part of the key: an operator searches by the number printed on the patient's
documents; the tenant scope (establishments) narrows the result.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import Enum


class PatientIdKind(Enum):
    """What an identifier is, and the byte that prefixes its digests."""

    IPP = b"P"
    """Identifiant permanent du patient (PID-3 type PI)."""
    NDA = b"A"
    """Numéro de dossier administratif (PID-18 / PV1-19)."""
    INS = b"I"
    """Identité nationale de santé (matricule INS, PID-3 type INS / NIR OID)."""


KEY_SIZE = 17
"""Bytes of one stored key: kind byte + 16 bytes of HMAC."""


def normalise(value: str) -> str:
    """The form identifiers are compared in: surrounding spaces dropped, upper-cased."""
    return value.strip().upper()


def patient_key(secret: bytes, kind: PatientIdKind, value: str) -> bytes:
    """The digest stored for (and searched with) one identifier.

    Raises:
        ValueError: the secret or the value is empty.
    """
    if not secret:
        raise ValueError("the patient index needs a secret")
    text = normalise(value)
    if not text:
        raise ValueError("empty patient identifier")
    mac = hmac.new(secret, kind.value + b"|" + text.encode("utf-8"), hashlib.sha256)
    return kind.value + mac.digest()[:16]
