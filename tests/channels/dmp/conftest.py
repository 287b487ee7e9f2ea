"""Fixtures: a dev PKI (TLS + organisation signing certificate), the test DMP endpoint, and
``dmp_xds`` destinations pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from channels.dmp.config import DmpDestinationConfig
from channels.dmp.destination import DmpDestination
from engine.formats.xds import load_tables
from engine.pki import DevPki, make_ca, make_cert, write_dev_pki
from engine.sandbox.dmp_endpoint import DmpEndpoint
from tests.engine.formats.cda.builders import NO_CORPUS, XDS_XSD


@dataclass(frozen=True)
class Keys:
    tls: DevPki
    org_cert: Path
    org_key: Path
    rogue_cert: Path
    rogue_key: Path


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    root = tmp_path_factory.mktemp("dmp-pki")
    tls = write_dev_pki(root)
    ca = (tls.ca_cert.read_bytes(), tls.ca_key.read_bytes())
    paths = []
    for who in ("cachet", "rogue"):
        cert, key = make_cert(
            ca if who == "cachet" else make_ca("Rogue CA"),
            f"chu-test-{who}",
            server=False,
            client=True,
            sans=(),
        )
        (root / f"{who}.crt").write_bytes(cert)
        (root / f"{who}.key").write_bytes(key)
        paths += [root / f"{who}.crt", root / f"{who}.key"]
    return Keys(tls, *paths)


@pytest.fixture
async def endpoint(keys: Keys) -> AsyncIterator[DmpEndpoint]:
    if not XDS_XSD.is_file():
        pytest.skip(NO_CORPUS)
    server = DmpEndpoint(
        server_cert=keys.tls.server_cert,
        server_key=keys.tls.server_key,
        client_ca=keys.tls.ca_cert,
        organisation_cert=keys.org_cert,
        tables=load_tables(),
    )
    await server.start()
    yield server
    await server.stop()


def destination_config(keys: Keys, endpoint_url: str, **overrides: Any) -> DmpDestinationConfig:
    data: dict[str, Any] = {
        "url": endpoint_url,
        "tls": {
            "cert_file": str(keys.tls.client_cert),
            "key_file": str(keys.tls.client_key),
            "ca_file": str(keys.tls.ca_cert),
        },
        "vihf": {
            "signing_cert_file": str(keys.org_cert),
            "signing_key_file": str(keys.org_key),
            "structure_id": "1120459876",
            "lps_homologation": "DMP-LPS-TEST",
            "healthcare_facility_type": "SA25",
            "subject_id": "801234534765",
        },
        "source_id": "1.2.250.1.999.1.1",
        "content_type_code": "07",
        "connect_timeout": "2s",
        "timeout": "10s",
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return DmpDestinationConfig.model_validate(data)


MakeDestination = Callable[..., Awaitable[DmpDestination]]


@pytest.fixture
async def make_destination(keys: Keys, endpoint: DmpEndpoint) -> AsyncIterator[MakeDestination]:
    opened: list[DmpDestination] = []

    async def make(**overrides: Any) -> DmpDestination:
        destination = DmpDestination("dmp", destination_config(keys, endpoint.url, **overrides))
        await destination.open()
        opened.append(destination)
        return destination

    yield make
    for destination in opened:
        await destination.close()
