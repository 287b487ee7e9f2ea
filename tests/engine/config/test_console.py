"""The ``console:`` section and the ``establishment`` tags of channels and destinations."""

from __future__ import annotations

import pytest

from engine.config.loader import load_config_text
from engine.errors import ConfigError

BASE = """\
version: 1
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:0", establishment: {est}}}
destinations:
  out: {{type: file, directory: ./out, establishment: "920000002"}}
routes:
  - {{name: all, to: [out]}}
"""


def test_defaults_listen_on_loopback_with_eight_hour_sessions() -> None:
    config = load_config_text(BASE.format(est='"750000001"'))
    console = config.console
    assert console.enabled and console.listen == ("127.0.0.1", 8095)
    assert console.session_lifetime == 8 * 3600 and console.tls is None
    assert not console.cookies_secure
    assert config.channels["mllp_in"].establishment == "750000001"
    assert config.destinations["out"].establishment == "920000002"


def test_an_unquoted_finess_is_read_as_its_digits() -> None:
    config = load_config_text(BASE.format(est="750000001"))
    assert config.channels["mllp_in"].establishment == "750000001"


@pytest.mark.parametrize("value", ['"75000001"', '"ABCDEFGHI"', '"7500000011"'])
def test_a_finess_must_be_nine_digits(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(BASE.format(est=value))
    (diagnostic,) = [d for d in caught.value.diagnostics if d.is_error]
    assert "FINESS" in diagnostic.message and diagnostic.line == 3


def test_console_settings_tls_and_oidc() -> None:
    text = (
        BASE.format(est='"750000001"')
        + """\
console:
  listen: 0.0.0.0:9443
  session_lifetime: 30m
  tls: {cert_file: /etc/passerelle/console.crt, key_file: /etc/passerelle/console.key}
  oidc:
    issuer: https://sso.chu.example/realms/chu
    client_id: passerelle
    role_map: {passerelle-ops: operator}
    establishments_claim: finess
"""
    )
    config = load_config_text(text, files=False)
    console = config.console
    assert console.listen == ("0.0.0.0", 9443) and console.session_lifetime == 1800
    assert console.cookies_secure
    assert console.oidc is not None and console.oidc.role_map == {"passerelle-ops": "operator"}
    with pytest.raises(ConfigError):
        load_config_text(text.replace("operator}", "root}"), files=False)
