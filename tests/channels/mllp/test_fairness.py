"""Fair connections: idle or CR-dripping connections never lock a new sender out.

Real sockets on the loopback network; attackers connect from other 127.0.0.0/8 addresses
(Linux routes the whole block to lo) so that per-peer and listener caps are both exercised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource

import pytest

from tests.channels.mllp.conftest import StartServer
from tests.channels.mllp.support import Peer, RecordingIntake, message, segments

IDLE_CONNECTIONS = 1_000


@pytest.fixture
def many_files() -> None:
    """Room for both ends of 1,000+ connections in this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * IDLE_CONNECTIONS
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below {wanted}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def drip(peer: Peer, stop: asyncio.Event) -> None:
    """Send a bare CR every 50 ms until ``stop`` or the server closes the connection."""
    with contextlib.suppress(ConnectionError):
        while not stop.is_set() and not peer.reader.at_eof():
            await peer.write(b"\r")
            await asyncio.sleep(0.05)


async def test_a_thousand_idle_connections_and_cr_drips_do_not_lock_out_a_new_sender(
    start_server: StartServer,
    intake: RecordingIntake,
    many_files: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="channels.mllp.server")
    src = await start_server(max_connections=100, max_connections_per_peer=32)
    idle: list[Peer] = []
    for n in range(IDLE_CONNECTIONS):  # ten attacker addresses, 100 connections each
        idle.append(await Peer.connect(src.address, source=f"127.0.0.{2 + n % 10}"))
    stop = asyncio.Event()
    drippers = [await Peer.connect(src.address, source="127.0.0.20") for _ in range(20)]
    drips = [asyncio.create_task(drip(p, stop)) for p in drippers]
    try:
        await asyncio.sleep(0.3)  # the drips are flowing
        sender = await Peer.connect(src.address, source="127.0.0.1")
        ack = segments(await sender.request(message("NEW-1")))
        assert ack["MSA"][1:3] == ["AA", "NEW-1"]
        assert [e.metadata["hl7.control_id"] for e in intake.accepted] == ["NEW-1"]
        # and it keeps its place: the next message on the same connection is served too
        assert segments(await sender.request(message("NEW-2")))["MSA"][1:3] == ["AA", "NEW-2"]
        await sender.close()
    finally:
        stop.set()
        await asyncio.gather(*drips)
    closed = await asyncio.gather(*(p.closed_by_server(timeout=5) for p in idle[:900]))
    assert all(closed)  # the oldest idle connections made room
    evictions = [r for r in caplog.records if "to make room" in r.getMessage()]
    assert len(evictions) <= 2  # one line per kind and minute, not one per connection
    for peer in idle + drippers:
        await peer.close()


async def test_cr_bytes_between_frames_do_not_reset_the_idle_timeout(
    start_server: StartServer,
) -> None:
    src = await start_server(idle_timeout="1s")
    dripper = await Peer.connect(src.address)
    stop = asyncio.Event()
    dripping = asyncio.create_task(drip(dripper, stop))
    assert await dripper.closed_by_server(timeout=10)
    stop.set()
    await dripping
    await dripper.close()


async def test_complete_frames_keep_a_connection_open_past_the_idle_timeout(
    start_server: StartServer,
) -> None:
    src = await start_server(idle_timeout="1s")
    sender = await Peer.connect(src.address)
    for n in range(6):  # 6 x 0.3 s: well past one idle_timeout, never idle for one
        assert segments(await sender.request(message(f"K{n}")))["MSA"][1] == "AA"
        await asyncio.sleep(0.3)
    await sender.close()


async def test_per_peer_cap_closes_that_peers_longest_idle_connection(
    start_server: StartServer,
) -> None:
    src = await start_server(max_connections_per_peer=2)
    first = await Peer.connect(src.address, source="127.0.0.2")
    assert segments(await first.request(message("A1")))["MSA"][1] == "AA"
    second = await Peer.connect(src.address, source="127.0.0.2")
    assert segments(await second.request(message("A2")))["MSA"][1] == "AA"
    other = await Peer.connect(src.address, source="127.0.0.3")
    third = await Peer.connect(src.address, source="127.0.0.2")
    assert await first.closed_by_server()
    assert segments(await third.request(message("A3")))["MSA"][1] == "AA"
    assert segments(await second.request(message("A4")))["MSA"][1] == "AA"
    assert segments(await other.request(message("B1")))["MSA"][1] == "AA"
    for peer in (first, second, third, other):
        await peer.close()


async def test_allow_list_refuses_other_addresses(
    start_server: StartServer, intake: RecordingIntake, caplog: pytest.LogCaptureFixture
) -> None:
    src = await start_server(allow=["127.0.0.2", "10.0.0.0/8"])
    caplog.set_level(logging.WARNING, logger="channels.mllp.server")
    stranger = await Peer.connect(src.address, source="127.0.0.1")
    assert await stranger.closed_by_server()
    assert "Connection refused: peer address not in the channel's allow list." in caplog.text
    friend = await Peer.connect(src.address, source="127.0.0.2")
    assert segments(await friend.request(message("OK1")))["MSA"][1:3] == ["AA", "OK1"]
    assert [e.metadata["hl7.control_id"] for e in intake.accepted] == ["OK1"]
    await stranger.close()
    await friend.close()


def test_allow_list_entries_must_be_addresses_or_networks() -> None:
    from pydantic import ValidationError

    from channels.mllp.config import MllpSourceConfig

    with pytest.raises(ValidationError, match="not an IP address or CIDR network"):
        MllpSourceConfig.model_validate({"listen": "127.0.0.1:0", "allow": ["hospital.example"]})
    ok = MllpSourceConfig.model_validate({"listen": "127.0.0.1:0", "allow": ["10.0.0.0/8"]})
    assert ok.allowed_networks is not None and len(ok.allowed_networks) == 1
