"""Certificate and key files named by channels and destinations, loaded at check time.

Every key whose name ends in ``cert_file``, ``ca_file`` (certificates) or ``key_file``
(private keys), at any depth of a channel or destination entry, is read and parsed the way
the engine will use it. Each problem is a diagnostic at the value of that key, naming the
channel or destination, the key, the file, and what to do:

``missing-file``  the file does not exist (or is not a regular file, or cannot be read);
``bad-certificate``  no PEM certificate in it (a private key there is called out);
``bad-key``  no unencrypted PEM private key in it;
``key-mismatch``  ``key_file`` is not the private key of ``cert_file`` (same for
``signing_key_file``/``signing_cert_file``);
``expired-certificate`` (warning)  a certificate is past its ``notAfter``.

Paths are taken as written (relative to the working directory, as the engine does).
Reading is bounded: a file over 1 MiB is not a certificate.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from engine.config.document import DataPath, Document

_MAX = 1 << 20
_LABELS = {"channels": "channel", "destinations": "destination"}
_SANDBOX_HINT = "run `passerelle sandbox` (or `make run`) once to create the sandbox certificates"
_DEV_HINT = "fix the path, or create development certificates with `passerelle certs --out DIR`"


def check_files(doc: Document) -> None:
    """Append a diagnostic for each unusable certificate or key file of ``doc.data``."""
    data = doc.data
    if not isinstance(data, dict):
        return
    for section, label in _LABELS.items():
        entries = data.get(section)
        if isinstance(entries, dict):
            for name, entry in entries.items():
                _walk(doc, f"{label} {name!r}", (section, name), entry)


def _walk(doc: Document, owner: str, path: DataPath, node: Any) -> None:
    if not isinstance(node, dict):
        return
    loaded: dict[str, Any] = {}
    for key, value in node.items():
        at = (*path, key)
        if isinstance(value, dict):
            _walk(doc, owner, at, value)
        elif isinstance(value, str) and value and at not in doc.tainted:
            if key.endswith(("cert_file", "ca_file")):
                loaded[key] = _certificates(doc, owner, at, Path(value))
            elif key.endswith("key_file"):
                loaded[key] = _private_key(doc, owner, at, Path(value))
    for cert_key in (k for k in loaded if k.endswith("cert_file")):
        key_key = cert_key.removesuffix("cert_file") + "key_file"
        certs, key = loaded[cert_key], loaded.get(key_key)
        if certs and key is not None and _public(certs[0]) != _public(key):
            message = (
                f"{owner}: {_dotted((*path, key_key))} ({node[key_key]}) is not the private key"
                f" of {cert_key} ({node[cert_key]}): give the key that goes with the certificate"
            )
            doc.error((*path, key_key), "key-mismatch", message)


def _read(doc: Document, owner: str, at: DataPath, file: Path) -> bytes | None:
    where = f"{owner}: {_dotted(at)}"
    hint = _SANDBOX_HINT if "sandbox" in file.parts else _DEV_HINT
    if not file.exists():
        doc.error(at, "missing-file", f"{where}: {file} does not exist; {hint}")
        return None
    if not file.is_file():
        doc.error(at, "missing-file", f"{where}: {file} is not a file; {hint}")
        return None
    try:
        with file.open("rb") as handle:
            return handle.read(_MAX + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        doc.error(at, "missing-file", f"{where}: cannot read {file}: {reason}; check its rights")
        return None


def _certificates(doc: Document, owner: str, at: DataPath, file: Path) -> list[x509.Certificate]:
    raw = _read(doc, owner, at, file)
    if raw is None:
        return []
    where = f"{owner}: {_dotted(at)}"
    try:
        certs = x509.load_pem_x509_certificates(raw) if len(raw) <= _MAX else []
    except ValueError:
        certs = []
    if not certs:
        found = "a private key" if b"PRIVATE KEY-----" in raw else "no PEM certificate"
        message = (
            f"{where}: {file} holds {found}; give a PEM certificate ('-----BEGIN CERTIFICATE-----')"
        )
        doc.error(at, "bad-certificate", message)
        return []
    now = datetime.now(UTC)
    for cert in certs:
        if cert.not_valid_after_utc < now:
            subject = cert.subject.rfc4514_string()
            expired = cert.not_valid_after_utc.date().isoformat()
            message = f"{where}: the certificate {subject} in {file} expired on {expired}; renew it"
            doc.warning(at, "expired-certificate", message)
    return certs


def _private_key(doc: Document, owner: str, at: DataPath, file: Path) -> Any:
    raw = _read(doc, owner, at, file)
    if raw is None:
        return None
    where = f"{owner}: {_dotted(at)}"
    try:
        return serialization.load_pem_private_key(raw, password=None)
    except TypeError:
        message = f"{where}: {file} is encrypted; give the key without a passphrase (mode 0600)"
    except (ValueError, UnsupportedAlgorithm):
        found = "a certificate" if b"BEGIN CERTIFICATE" in raw else "no PEM private key"
        message = (
            f"{where}: {file} holds {found}; give a PEM private key ('-----BEGIN PRIVATE KEY-----')"
        )
    doc.error(at, "bad-key", message)
    return None


def _dotted(path: DataPath) -> str:
    """The key inside its channel or destination: ``tls.cert_file``."""
    return ".".join(str(p) for p in path[2:])


def _public(key: Any) -> bytes:
    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


__all__ = ["check_files"]
