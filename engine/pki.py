"""A small development PKI: one CA, server and client certificates, all EC P-256 PEM.

For tests and for ``passerelle certs``; never for production trust. Every certificate
carries BasicConstraints, KeyUsage, ExtendedKeyUsage (leaves), SubjectKeyIdentifier and
AuthorityKeyIdentifier, which strict verifiers (cryptography's, OpenSSL's) require.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 825
_BACKDATE = timedelta(hours=1)  # tolerate clock skew between machines


@dataclass(frozen=True, slots=True)
class DevPki:
    """Paths written by :func:`write_dev_pki`."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Passerelle development PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def make_ca(common_name: str) -> tuple[bytes, bytes]:
    """Create a self-signed CA (path length 0). Returns ``(cert_pem, key_pem)``."""
    key = _new_key()
    now = datetime.now(UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _san(names: Iterable[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def make_cert(
    ca: tuple[bytes, bytes],
    common_name: str,
    *,
    server: bool,
    client: bool,
    sans: Iterable[str] = ("localhost", "127.0.0.1"),
) -> tuple[bytes, bytes]:
    """Issue a leaf certificate signed by ``ca`` (its ``(cert_pem, key_pem)``).

    ``server``/``client`` select the serverAuth/clientAuth extended key usages; ``sans``
    become DNS or IP subject alternative names. When ``sans`` is empty the common name is
    the only DNS name (cryptography's verifier demands a SAN on every leaf, client too).

    Raises:
        ValueError: neither ``server`` nor ``client``, or the CA PEM cannot be loaded.
    """
    if not (server or client):
        raise ValueError("a certificate must be for server or client use (or both)")
    ca_cert = x509.load_pem_x509_certificate(ca[0])
    ca_key = serialization.load_pem_private_key(ca[1], password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key must be an EC private key")
    key = _new_key()
    now = datetime.now(UTC)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + timedelta(days=LEAF_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
    )
    builder = builder.add_extension(_san(tuple(sans) or (common_name,)), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _write(path: Path, data: bytes, *, private: bool) -> None:
    mode = 0o600 if private else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def write_dev_pki(
    directory: str | os.PathLike[str],
    *,
    server_name: str = "localhost",
    client_name: str = "passerelle-client",
    sans: Iterable[str] = ("localhost", "127.0.0.1"),
    overwrite: bool = False,
) -> DevPki:
    """Write ``ca``, ``server`` and ``client`` ``.crt``/``.key`` files into ``directory``.

    The directory is created if needed; keys are written with mode 0600.

    Raises:
        FileExistsError: a target file exists and ``overwrite`` is false (nothing written).
        OSError: the directory or a file cannot be written.
    """
    root = Path(directory)
    paths = DevPki(
        *(root / f"{who}.{ext}" for who in ("ca", "server", "client") for ext in ("crt", "key"))
    )
    targets = (
        paths.ca_cert,
        paths.ca_key,
        paths.server_cert,
        paths.server_key,
        paths.client_cert,
        paths.client_key,
    )
    if not overwrite:
        existing = [str(p) for p in targets if p.exists()]
        if existing:
            raise FileExistsError(f"refusing to overwrite {', '.join(existing)}")
    root.mkdir(parents=True, exist_ok=True)
    ca = make_ca("Passerelle development CA")
    sans = tuple(sans)
    server = make_cert(ca, server_name, server=True, client=False, sans=sans)
    client = make_cert(ca, client_name, server=False, client=True, sans=(client_name,))
    for (cert_path, key_path), (cert_pem, key_pem) in zip(
        zip(targets[::2], targets[1::2], strict=True), (ca, server, client), strict=True
    ):
        _write(cert_path, cert_pem, private=False)
        _write(key_path, key_pem, private=True)
    return paths


__all__ = ["CA_DAYS", "LEAF_DAYS", "DevPki", "make_ca", "make_cert", "write_dev_pki"]
