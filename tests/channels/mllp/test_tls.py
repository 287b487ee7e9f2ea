"""MLLP over TLS and mutual TLS, with certificates from engine.pki."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

import pytest

from channels.mllp.client import MllpDestination
from channels.mllp.config import MllpDestinationConfig, MllpSourceConfig
from channels.mllp.server import MllpSource
from engine.components import DeliveryContext, Payload
from engine.errors import ChannelError, RetryableDeliveryError
from engine.message import HL7V2
from engine.pki import DevPki, make_ca, make_cert, write_dev_pki
from tests.channels.mllp.conftest import StartServer
from tests.channels.mllp.support import Peer, RecordingIntake, message, segments

CTX = DeliveryContext("d1", "m1", "out", 1, "m1:out")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return write_dev_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A client certificate (CN passerelle-client) issued by an unrelated CA."""
    root = tmp_path_factory.mktemp("foreign")
    cert, key = make_cert(
        make_ca("Some other CA"), "passerelle-client", server=False, client=True, sans=()
    )
    (root / "c.crt").write_bytes(cert)
    (root / "c.key").write_bytes(key)
    return root / "c.crt", root / "c.key"


def tls_config(pki: DevPki, *, mutual: bool) -> dict[str, str]:
    cfg = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
    if mutual:
        cfg["client_ca_file"] = str(pki.ca_cert)
    return cfg


def client_ctx(pki: DevPki, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki.ca_cert)
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


async def assert_refused(src: MllpSource, ctx: ssl.SSLContext) -> None:
    """The handshake fails, or (TLS 1.3: the client finishes first) the first read does."""
    try:
        peer = await Peer.connect(src.address, ssl_context=ctx)
    except (ssl.SSLError, ConnectionError):
        return
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, EOFError)):
            await peer.request(message("NOPE"))
    finally:
        peer.writer.transport.abort()


async def test_mtls_client_with_the_right_certificate_is_served(
    start_server: StartServer, intake: RecordingIntake, pki: DevPki
) -> None:
    src = await start_server(tls=tls_config(pki, mutual=True))
    assert src.describe().startswith("mllps://")
    peer = await Peer.connect(
        src.address, ssl_context=client_ctx(pki, (pki.client_cert, pki.client_key))
    )
    assert segments(await peer.request(message("TLS1")))["MSA"][1:3] == ["AA", "TLS1"]
    assert intake.accepted[0].metadata["tls.client_subject"] == "passerelle-client"
    await peer.close()


async def test_mtls_client_without_certificate_is_refused(
    start_server: StartServer, intake: RecordingIntake, pki: DevPki
) -> None:
    src = await start_server(tls=tls_config(pki, mutual=True))
    await assert_refused(src, client_ctx(pki))
    assert intake.accepted == []


async def test_mtls_client_with_a_foreign_certificate_is_refused(
    start_server: StartServer, intake: RecordingIntake, pki: DevPki, foreign: tuple[Path, Path]
) -> None:
    src = await start_server(tls=tls_config(pki, mutual=True))
    await assert_refused(src, client_ctx(pki, foreign))
    assert intake.accepted == []
    # the listener still serves a legitimate client afterwards
    good = await Peer.connect(
        src.address, ssl_context=client_ctx(pki, (pki.client_cert, pki.client_key))
    )
    assert segments(await good.request(message("OK")))["MSA"][1] == "AA"
    await good.close()


async def test_server_only_tls_needs_no_client_certificate(
    start_server: StartServer, intake: RecordingIntake, pki: DevPki
) -> None:
    src = await start_server(tls=tls_config(pki, mutual=False))
    peer = await Peer.connect(src.address, ssl_context=client_ctx(pki))
    assert segments(await peer.request(message("T2")))["MSA"][1] == "AA"
    assert "tls.client_subject" not in intake.accepted[0].metadata
    await peer.close()


async def test_plain_tcp_client_on_a_tls_listener_gets_nothing(
    start_server: StartServer, intake: RecordingIntake, pki: DevPki
) -> None:
    src = await start_server(tls=tls_config(pki, mutual=True))
    peer = await Peer.connect(src.address)
    await peer.write(b"\x0b" + message("PLAIN") + b"\x1c\r")
    assert await peer.closed_by_server()
    assert intake.accepted == []
    await peer.close()


async def test_destination_over_mtls(
    start_server: StartServer, intake: RecordingIntake, pki: DevPki
) -> None:
    src = await start_server(tls=tls_config(pki, mutual=True))
    host, port = src.address
    dest = MllpDestination(
        "out",
        MllpDestinationConfig.model_validate(
            {
                "address": f"{host}:{port}",
                "tls": {
                    "ca_file": str(pki.ca_cert),
                    "cert_file": str(pki.client_cert),
                    "key_file": str(pki.client_key),
                    "server_hostname": "localhost",
                },
            }
        ),
    )
    await dest.open()
    assert await dest.send(Payload(message("D1"), HL7V2), CTX) == "ACK AA"
    assert intake.accepted[0].metadata["tls.client_subject"] == "passerelle-client"
    await dest.close()


async def test_destination_refuses_an_untrusted_server(
    start_server: StartServer, pki: DevPki, tmp_path: Path
) -> None:
    src = await start_server(tls=tls_config(pki, mutual=False))
    other_ca = tmp_path / "other-ca.crt"
    other_ca.write_bytes(make_ca("Other")[0])
    host, port = src.address
    dest = MllpDestination(
        "out",
        MllpDestinationConfig.model_validate(
            {"address": f"{host}:{port}", "tls": {"ca_file": str(other_ca)}}
        ),
    )
    with pytest.raises(RetryableDeliveryError, match="TLS"):
        await dest.send(Payload(message("D2"), HL7V2), CTX)
    await dest.close()


async def test_unusable_certificate_files_fail_at_start(
    pki: DevPki, intake: RecordingIntake, tmp_path: Path
) -> None:
    cfg = MllpSourceConfig.model_validate(
        {
            "listen": "127.0.0.1:0",
            "tls": {"cert_file": str(tmp_path / "missing.crt"), "key_file": str(pki.server_key)},
        }
    )
    with pytest.raises(ChannelError, match="TLS server configuration"):
        await MllpSource("bad", cfg).start(intake)
    mismatched = MllpSourceConfig.model_validate(
        {
            "listen": "127.0.0.1:0",
            "tls": {"cert_file": str(pki.server_cert), "key_file": str(pki.client_key)},
        }
    )
    with pytest.raises(ChannelError):
        await MllpSource("bad", mismatched).start(intake)


async def test_handshake_failures_are_logged(
    start_server: StartServer, pki: DevPki, caplog: pytest.LogCaptureFixture
) -> None:
    src = await start_server(tls=tls_config(pki, mutual=True))
    with caplog.at_level(logging.WARNING, logger="channels.mllp.server"):
        await assert_refused(src, client_ctx(pki))
        await src.stop()
    assert any(
        r.getMessage() == "TLS handshake failed: PEER_DID_NOT_RETURN_A_CERTIFICATE."
        and getattr(r, "peer", "").startswith("127.0.0.1:")
        for r in caplog.records
    )


async def test_silent_client_is_cut_during_the_handshake(
    start_server: StartServer, pki: DevPki
) -> None:
    src = await start_server(tls=tls_config(pki, mutual=True), frame_timeout="300ms")
    silent = await Peer.connect(src.address)  # plain TCP, never sends a ClientHello
    assert await silent.closed_by_server(timeout=3)
    await silent.close()


async def test_stop_during_a_handshake_is_prompt(start_server: StartServer, pki: DevPki) -> None:
    src = await start_server(tls=tls_config(pki, mutual=True))
    silent = await Peer.connect(src.address)
    await asyncio.sleep(0.05)  # let the listener start the handshake
    await asyncio.wait_for(src.stop(), 2)
    assert await silent.closed_by_server(timeout=2)
    await silent.close()
