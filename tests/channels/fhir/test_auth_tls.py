"""OAuth2 client credentials (token reuse, expiry, 401) and mutual TLS, against the platform."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from channels.fhir import FhirDestination, FhirDestinationConfig
from engine.components import DeliveryContext
from engine.errors import ChannelError, RetryableDeliveryError
from engine.pki import DevPki, write_dev_pki
from engine.sandbox.fhir_platform import CLIENT_ID, CLIENT_SECRET, FhirPlatform
from tests.channels.fhir.conftest import MakeDestination
from tests.support.fhir_bundles import payload, transaction

CONTEXT = DeliveryContext("DLV1", "MSG1", "platform", 1, "KEY")


@pytest.fixture(scope="module")
def oauth_platform() -> Iterator[FhirPlatform]:
    with FhirPlatform(auth=True) as started:
        yield started


@pytest.fixture
def secured(oauth_platform: FhirPlatform) -> FhirPlatform:
    oauth_platform.reset()
    return oauth_platform


def auth(platform: FhirPlatform, **extra: str) -> dict[str, str]:
    return {
        "token_url": f"{platform.url}/oauth/token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **extra,
    }


@pytest.mark.parametrize("client_auth", ["basic", "post"])
async def test_one_token_is_fetched_and_reused_by_concurrent_deliveries(
    secured: FhirPlatform, make_destination: MakeDestination, client_auth: str
) -> None:
    dest = await make_destination(
        base_url=secured.base_url, auth=auth(secured, client_auth=client_auth)
    )
    bundles = [payload(transaction(str(i), f"M{i}")) for i in range(8)]
    await asyncio.gather(*(dest.send(b, CONTEXT) for b in bundles))
    await dest.send(bundles[0], CONTEXT)
    assert secured.tokens_issued == 1
    assert dest.tokens is not None and dest.tokens.fetched == 1
    assert len(secured.resources("Encounter")) == 8


async def test_the_token_is_refreshed_before_it_expires(
    secured: FhirPlatform, make_destination: MakeDestination
) -> None:
    secured.token_lifetime = 0.4  # refreshed after half its life (refresh_margin is larger)
    dest = await make_destination(base_url=secured.base_url, auth=auth(secured))
    await dest.send(payload(transaction("1", "M1")), CONTEXT)
    await asyncio.sleep(0.25)
    await dest.send(payload(transaction("1", "M2")), CONTEXT)
    assert secured.tokens_issued == 2
    assert [status for *_, status in secured.requests] == [200, 200]  # never a 401


async def test_a_401_gets_a_new_token_and_the_request_is_sent_again(
    secured: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(base_url=secured.base_url, auth=auth(secured))
    await dest.send(payload(transaction("1", "M1")), CONTEXT)
    secured.revoke_tokens()  # e.g. the platform restarted and forgot its tokens
    assert (
        await dest.send(payload(transaction("1", "M2")), CONTEXT)
        == "200 Patient/1, 201 Encounter/2"
    )
    assert secured.tokens_issued == 2
    assert [status for *_, status in secured.requests] == [200, 401, 200]


async def test_wrong_credentials_and_no_token_are_retryable(
    secured: FhirPlatform, make_destination: MakeDestination
) -> None:
    dest = await make_destination(
        base_url=secured.base_url, auth=auth(secured, client_secret="wrong")
    )
    with pytest.raises(
        RetryableDeliveryError, match="OAuth2 token request: HTTP 401: invalid_client"
    ):
        await dest.send(payload(transaction("1", "M1")), CONTEXT)
    anonymous = await make_destination(base_url=secured.base_url)
    with pytest.raises(RetryableDeliveryError, match="HTTP 401"):
        await anonymous.send(payload(transaction("1", "M1")), CONTEXT)
    assert secured.resources("Patient") == []


def test_the_client_secret_never_shows_in_a_repr_or_a_dump() -> None:
    config = FhirDestinationConfig.model_validate(
        {
            "base_url": "https://fhir.example/fhir",
            "auth": {"token_url": "https://a.example/t", "client_id": "c", "client_secret": "s3"},
        }
    )
    assert "s3" not in repr(config) and "s3" not in config.model_dump_json()
    assert config.auth is not None and config.auth.client_secret.get_secret_value() == "s3"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return write_dev_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def mtls_platform(pki: DevPki) -> Iterator[FhirPlatform]:
    with FhirPlatform(pki=pki, client_certs=True) as started:
        yield started


async def test_mutual_tls_with_certificates_made_by_the_test(
    mtls_platform: FhirPlatform, pki: DevPki, make_destination: MakeDestination
) -> None:
    mtls_platform.reset()
    tls = {
        "ca_file": str(pki.ca_cert),
        "cert_file": str(pki.client_cert),
        "key_file": str(pki.client_key),
    }
    dest = await make_destination(base_url=mtls_platform.base_url, tls=tls)
    assert (
        await dest.send(payload(transaction("1", "M1")), CONTEXT)
        == "201 Patient/1, 201 Encounter/1"
    )
    # without a client certificate the platform refuses the handshake: retried, never sent
    no_cert = await make_destination(
        base_url=mtls_platform.base_url, tls={"ca_file": str(pki.ca_cert)}
    )
    with pytest.raises(RetryableDeliveryError, match="connection failed"):
        await no_cert.send(payload(transaction("1", "M2")), CONTEXT)
    # a server certificate from another CA is not trusted
    untrusted = await make_destination(base_url=mtls_platform.base_url)
    with pytest.raises(RetryableDeliveryError, match="connection failed"):
        await untrusted.send(payload(transaction("1", "M3")), CONTEXT)
    assert len(mtls_platform.resources("Encounter")) == 1


async def test_unreadable_certificates_fail_at_open(tmp_path: Path) -> None:
    config = FhirDestinationConfig.model_validate(
        {
            "base_url": "https://fhir.example/fhir",
            "tls": {"cert_file": str(tmp_path / "no.crt"), "key_file": str(tmp_path / "no.key")},
        }
    )
    with pytest.raises(ChannelError, match="cannot load the TLS configuration"):
        await FhirDestination("platform", config).open()


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"tls": {"cert_file": "c.crt"}}, "cert_file and key_file must be set together"),
        ({"headers": {"Authorization": "x"}}, "cannot be overridden"),
        ({"mode": "bulk"}, "transaction"),
        ({"timeout": 30}, "duration"),
    ],
)
def test_config_mistakes_are_refused(config: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        FhirDestinationConfig.model_validate({"base_url": "http://x/fhir", **config})
