"""engine.pki certificates (checked with cryptography's own verifier) and the MLLP configs."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store
from pydantic import ValidationError

from channels.mllp.config import MllpDestinationConfig, MllpSourceConfig, TlsClientConfig
from channels.mllp.tls import client_context, server_context
from engine.pki import make_ca, make_cert, write_dev_pki
from engine.registry import lookup

REQUIRED = (
    x509.BasicConstraints,
    x509.KeyUsage,
    x509.SubjectKeyIdentifier,
    x509.AuthorityKeyIdentifier,
)


def test_certificates_pass_cryptographys_verifier() -> None:
    ca_pem, _ = make_ca("Test CA")
    ca = x509.load_pem_x509_certificate(ca_pem)
    server = x509.load_pem_x509_certificate(
        make_cert((ca_pem, _), "localhost", server=True, client=False)[0]
    )
    client = x509.load_pem_x509_certificate(
        make_cert((ca_pem, _), "lab-client", server=False, client=True, sans=())[0]
    )
    builder = PolicyBuilder().store(Store([ca]))
    chain = builder.build_server_verifier(x509.DNSName("localhost")).verify(server, [])
    assert chain[-1] == ca
    by_ip = builder.build_server_verifier(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    assert by_ip.verify(server, [])[-1] == ca
    client_chain = builder.build_client_verifier().verify(client, [])
    assert client_chain.chain[-1] == ca
    for cert in (ca, server, client):
        for ext in REQUIRED:
            cert.extensions.get_extension_for_class(ext)
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH not in eku


def test_a_certificate_from_another_ca_does_not_verify() -> None:
    ca_pem, _ = make_ca("Mine")
    other = make_ca("Other")
    leaf = x509.load_pem_x509_certificate(make_cert(other, "x", server=True, client=False)[0])
    verifier = PolicyBuilder().store(Store([x509.load_pem_x509_certificate(ca_pem)]))
    with pytest.raises(x509.verification.VerificationError):
        verifier.build_server_verifier(x509.DNSName("localhost")).verify(leaf, [])


def test_make_cert_needs_a_usage() -> None:
    with pytest.raises(ValueError):
        make_cert(make_ca("CA"), "x", server=False, client=False)


def test_write_dev_pki(tmp_path: Path) -> None:
    paths = write_dev_pki(tmp_path / "pki")
    assert paths.ca_cert.name == "ca.crt" and paths.client_key.name == "client.key"
    for key in (paths.ca_key, paths.server_key, paths.client_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ctx = ssl.create_default_context(cafile=paths.ca_cert)
    ctx.load_cert_chain(paths.client_cert, paths.client_key)
    with pytest.raises(FileExistsError):
        write_dev_pki(tmp_path / "pki")
    again = write_dev_pki(tmp_path / "pki", overwrite=True)
    assert again.ca_cert.read_bytes() != b""


def test_tls_contexts(tmp_path: Path) -> None:
    paths = write_dev_pki(tmp_path)
    tls = MllpSourceConfig.model_validate(
        {
            "listen": "127.0.0.1:0",
            "tls": {
                "cert_file": str(paths.server_cert),
                "key_file": str(paths.server_key),
                "client_ca_file": str(paths.ca_cert),
            },
        }
    ).tls
    assert tls is not None
    server = server_context(tls)
    assert server.verify_mode == ssl.CERT_REQUIRED
    assert server.minimum_version == ssl.TLSVersion.TLSv1_2
    client = client_context(TlsClientConfig(ca_file=paths.ca_cert, min_version="1.3"))
    assert client.check_hostname and client.minimum_version == ssl.TLSVersion.TLSv1_3


def test_source_config_defaults_and_units() -> None:
    cfg = MllpSourceConfig.model_validate({"listen": "0.0.0.0:2575"})
    assert cfg.listen == ("0.0.0.0", 2575)
    assert cfg.max_frame_size == 1024 * 1024
    assert (cfg.idle_timeout, cfg.frame_timeout) == (300.0, 30.0)
    assert cfg.max_connections == 100 and cfg.default_codec == "utf-8" and cfg.tls is None
    assert cfg.model_dump(mode="json")["frame_timeout"] == "30s"


@pytest.mark.parametrize(
    "bad",
    [
        {"listen": "2575"},
        {"listen": "127.0.0.1:2575", "idle_timeout": 30},
        {"listen": "127.0.0.1:2575", "frame_timeout": "0s"},
        {"listen": "127.0.0.1:2575", "max_frame_size": "1 parsec"},
        {"listen": "127.0.0.1:2575", "default_charset": "UNICODE UTF-16"},
        {"listen": "127.0.0.1:2575", "max_connections": 0},
        {"listen": "127.0.0.1:2575", "tls": {"cert_file": "a.crt"}},
        {"listen": "127.0.0.1:2575", "content_type": "text/plain"},
    ],
)
def test_source_config_errors(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MllpSourceConfig.model_validate(bad)


def test_destination_config() -> None:
    cfg = MllpDestinationConfig.model_validate({"address": "hl7.example:2575"})
    assert (cfg.connect_timeout, cfg.ack_timeout, cfg.max_frame_size) == (10.0, 30.0, 1 << 20)
    with pytest.raises(ValidationError, match="together"):
        MllpDestinationConfig.model_validate(
            {"address": "hl7.example:2575", "tls": {"cert_file": "c.crt"}}
        )


def test_every_field_is_documented() -> None:
    for kind in ("source", "destination"):
        component = lookup(kind, "mllp")
        assert component is not None
        schema = component.config_model.model_json_schema()
        models = [schema, *schema.get("$defs", {}).values()]
        for model in models:
            for name, prop in model["properties"].items():
                assert prop.get("description"), (kind, name)
                assert prop.get("examples"), (kind, name)
