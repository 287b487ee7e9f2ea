"""The MLLP source over real sockets on 127.0.0.1, with an in-memory Intake."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from channels.mllp.config import MllpSourceConfig
from channels.mllp.framing import encode_frame
from channels.mllp.server import MllpSource
from engine.errors import ChannelError
from engine.intake.hl7v2 import STORE_FAILED_TEXT
from engine.message import HL7V2
from tests.channels.mllp.conftest import StartServer
from tests.channels.mllp.support import Peer, RecordingIntake, message, segments


async def test_message_is_committed_then_acked_aa(
    start_server: StartServer, intake: RecordingIntake
) -> None:
    src = await start_server()
    peer = await Peer.connect(src.address)
    ack = segments(await peer.request(message("CTRL-1")))
    assert ack["MSA"][1:3] == ["AA", "CTRL-1"]
    assert ack["MSH"][3:7] == ["PASSERELLE", "GRADES", "HIS", "CHU-X"]  # sender mirrored
    assert ack["MSH"][9] == "ACK^A01^ACK"
    [env] = intake.accepted
    assert env.raw == message("CTRL-1")
    assert env.channel == "mllp-in" and env.content_type == HL7V2
    assert env.metadata["hl7.control_id"] == "CTRL-1"
    assert env.metadata["peer"].startswith("127.0.0.1:")
    assert "tls.client_subject" not in env.metadata
    await peer.close()


async def test_many_connections_many_messages(
    start_server: StartServer, intake: RecordingIntake
) -> None:
    src = await start_server()

    async def one_connection(n: int) -> list[str]:
        peer = await Peer.connect(src.address)
        acked = []
        for i in range(15):
            ack = segments(await peer.request(message(f"C{n}-{i}")))
            assert ack["MSA"][1] == "AA"
            acked.append(ack["MSA"][2])
        await peer.close()
        return acked

    results = await asyncio.gather(*(one_connection(n) for n in range(20)))
    for n, acked in enumerate(results):
        assert acked == [f"C{n}-{i}" for i in range(15)]
    assert len(intake.accepted) == 300
    by_peer: dict[str, list[str]] = {}
    for env in intake.accepted:
        by_peer.setdefault(env.metadata["peer"], []).append(env.metadata["hl7.control_id"])
    for ids in by_peer.values():  # in order within each connection
        assert ids == sorted(ids, key=lambda c: int(c.split("-")[1]))


async def test_pipelined_frames_are_acked_in_order(
    start_server: StartServer, intake: RecordingIntake
) -> None:
    src = await start_server()
    peer = await Peer.connect(src.address)
    await peer.write(b"".join(encode_frame(message(f"P{i}")) for i in range(10)))
    ids = [segments(await peer.read_frame())["MSA"][2] for _ in range(10)]
    assert ids == [f"P{i}" for i in range(10)]
    assert [e.metadata["hl7.control_id"] for e in intake.accepted] == ids
    await peer.close()


async def test_frame_without_msh_gets_ar_and_connection_stays_open(
    start_server: StartServer, intake: RecordingIntake
) -> None:
    src = await start_server()
    peer = await Peer.connect(src.address)
    ack = segments(await peer.request(b"PID|1||123\r"))
    assert ack["MSA"][1:3] == ["AR", ""]
    assert ack["MSH"][3] == "PASSERELLE"  # bare ACK: nothing to mirror
    assert ack["ERR"][3].startswith("100^")
    assert "does not start with an MSH segment" in ack["ERR"][8]
    [(env, reason)] = intake.rejected
    assert env.raw == b"PID|1||123\r" and "MSH" in reason
    assert env.metadata["peer"].startswith("127.0.0.1:")
    assert segments(await peer.request(message("AFTER")))["MSA"][1] == "AA"
    await peer.close()


async def test_missing_control_id_gets_ar_with_err_101_on_msh_10(
    start_server: StartServer, intake: RecordingIntake
) -> None:
    src = await start_server()
    peer = await Peer.connect(src.address)
    ack = segments(await peer.request(message("")))
    assert ack["MSA"][1:3] == ["AR", ""]
    assert ack["MSH"][3:7] == ["PASSERELLE", "GRADES", "HIS", "CHU-X"]  # MSH still mirrored
    assert ack["ERR"][2] == "MSH^1^10"
    assert ack["ERR"][3].startswith("101^")
    assert ack["ERR"][8] == "MSH-10 message control id is missing"
    [(env, _)] = intake.rejected
    assert env.metadata["hl7.sending_application"] == "HIS"
    assert intake.accepted == []
    await peer.close()


async def test_unsupported_charset_gets_bare_ar(
    start_server: StartServer, intake: RecordingIntake
) -> None:
    src = await start_server()
    peer = await Peer.connect(src.address)
    ack = segments(await peer.request(message("X1", msh18="UNICODE UTF-16")))
    assert ack["MSA"][1] == "AR"
    assert ack["ERR"][2] == "MSH^1^18" and ack["ERR"][3].startswith("207^")
    assert len(intake.rejected) == 1
    await peer.close()


async def test_default_charset_applies_when_msh18_is_empty(
    start_server: StartServer, intake: RecordingIntake
) -> None:
    src = await start_server(default_charset="8859/1")
    peer = await Peer.connect(src.address)
    raw = message("L1").replace(b"DOE^JOHN", "HÉLÈNE".encode("latin-1"))
    assert segments(await peer.request(raw))["MSA"][1] == "AA"
    assert intake.accepted[0].metadata["hl7.codec"] == "iso8859-1"
    await peer.close()


async def test_store_failure_answers_ar_207_so_the_sender_resends(
    start_server: StartServer,
) -> None:
    failing = RecordingIntake(fail_accept=True)
    src = await start_server(intake_=failing)
    peer = await Peer.connect(src.address)
    ack = segments(await peer.request(message("S1")))
    assert ack["MSA"][1:3] == ["AR", "S1"]
    assert ack["ERR"][3].startswith("207^") and ack["ERR"][8] == STORE_FAILED_TEXT
    failing.fail_accept = False  # the sender resends on the same connection
    assert segments(await peer.request(message("S1")))["MSA"][1] == "AA"
    await peer.close()


async def test_reject_store_failure_still_answers_ar(start_server: StartServer) -> None:
    failing = RecordingIntake(fail_reject=True)
    src = await start_server(intake_=failing)
    peer = await Peer.connect(src.address)
    assert segments(await peer.request(b"garbage"))["MSA"][1] == "AR"
    await peer.close()


async def test_random_bytes_close_the_connection_not_the_listener(
    start_server: StartServer, intake: RecordingIntake, caplog: pytest.LogCaptureFixture
) -> None:
    src = await start_server()
    other = await Peer.connect(src.address)
    bad = await Peer.connect(src.address)
    with caplog.at_level(logging.WARNING, logger="channels.mllp.server"):
        await bad.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await bad.closed_by_server()
    assert any("Framing error" in r.getMessage() for r in caplog.records)
    assert segments(await other.request(message("STILL")))["MSA"][1] == "AA"
    fresh = await Peer.connect(src.address)
    assert segments(await fresh.request(message("NEW")))["MSA"][1] == "AA"
    assert intake.rejected == []
    for p in (other, bad, fresh):
        await p.close()


async def test_frame_then_garbage_acks_the_frame_then_closes(
    start_server: StartServer, intake: RecordingIntake
) -> None:
    src = await start_server()
    peer = await Peer.connect(src.address)
    await peer.write(encode_frame(message("G1")) + b"junk")
    assert segments(await peer.read_frame())["MSA"][1:3] == ["AA", "G1"]
    assert await peer.closed_by_server()
    assert len(intake.accepted) == 1
    await peer.close()


async def test_truncated_frame_is_discarded(
    start_server: StartServer, intake: RecordingIntake, caplog: pytest.LogCaptureFixture
) -> None:
    src = await start_server()
    peer = await Peer.connect(src.address)
    with caplog.at_level(logging.WARNING, logger="channels.mllp.server"):
        await peer.write(b"\x0b" + message("T1")[:40])
        peer.writer.write_eof()
        assert await peer.closed_by_server()
        await src.stop()  # joins the connection handler, so its log line is written
    assert any(
        r.getMessage() == "Connection closed mid-frame; 40 bytes discarded." for r in caplog.records
    )
    assert intake.accepted == [] and intake.rejected == []
    await peer.close()


async def test_oversize_frame_gets_ar_then_close(
    start_server: StartServer, intake: RecordingIntake
) -> None:
    src = await start_server(max_frame_size="1KiB")
    peer = await Peer.connect(src.address)
    await peer.write(encode_frame(message("BIG", body="NTE|1||" + "x" * 5000 + "\r")))
    ack = segments(await peer.read_frame())
    assert ack["MSA"][1:3] == ["AR", "BIG"]  # mirrored from the head of the frame
    assert ack["ERR"][3].startswith("207^")
    assert ack["ERR"][8] == "frame exceeds the maximum size of 1024 bytes"
    assert await peer.closed_by_server()
    assert intake.accepted == [] and intake.rejected == []
    await peer.close()


async def test_slow_sender_is_cut_by_frame_timeout_while_others_are_served(
    start_server: StartServer, intake: RecordingIntake
) -> None:
    src = await start_server(frame_timeout="1s", idle_timeout="10s")
    slow = await Peer.connect(src.address)
    frame = encode_frame(message("SLOW"))

    async def trickle() -> bool:
        """Send one byte every 0.1 s (each read resets nothing); True if the server cut us."""
        for byte in frame:
            try:
                await slow.write(bytes([byte]))
            except ConnectionError:
                return True
            if slow.reader.at_eof():
                return True
            await asyncio.sleep(0.1)
        return False

    trickler = asyncio.create_task(trickle())
    fast = await Peer.connect(src.address)
    assert segments(await fast.request(message("FAST")))["MSA"][1] == "AA"
    assert await slow.closed_by_server(timeout=4)
    assert await trickler
    assert [e.metadata["hl7.control_id"] for e in intake.accepted] == ["FAST"]
    await fast.close()
    await slow.close()


async def test_idle_connection_is_closed(start_server: StartServer) -> None:
    src = await start_server(idle_timeout="200ms")
    peer = await Peer.connect(src.address)
    assert segments(await peer.request(message("I1")))["MSA"][1] == "AA"
    assert await peer.closed_by_server(timeout=3)
    await peer.close()


async def test_at_max_connections_the_longest_idle_one_makes_room(
    start_server: StartServer,
) -> None:
    src = await start_server(max_connections=1)
    first = await Peer.connect(src.address)
    assert segments(await first.request(message("M1")))["MSA"][1] == "AA"
    second = await Peer.connect(src.address)
    assert await first.closed_by_server()
    assert segments(await second.request(message("M2")))["MSA"][1] == "AA"
    await first.close()
    await second.close()


async def test_at_max_connections_a_busy_connection_is_kept_and_the_new_one_refused(
    start_server: StartServer,
) -> None:
    gated = RecordingIntake(gate=asyncio.Event())
    src = await start_server(intake_=gated, max_connections=1)
    busy = await Peer.connect(src.address)
    await busy.write(encode_frame(message("BUSY")))
    await asyncio.wait_for(gated.entered.wait(), 5)
    newcomer = await Peer.connect(src.address)
    assert await newcomer.closed_by_server()
    assert gated.gate is not None
    gated.gate.set()
    assert segments(await busy.read_frame())["MSA"][1:3] == ["AA", "BUSY"]
    await busy.close()
    await newcomer.close()


async def test_stop_lets_the_inflight_commit_finish_and_closes_idle_connections(
    start_server: StartServer,
) -> None:
    gated = RecordingIntake(gate=asyncio.Event())
    src = await start_server(intake_=gated)
    idle = await Peer.connect(src.address)
    busy = await Peer.connect(src.address)
    await busy.write(encode_frame(message("INFLIGHT")))
    await asyncio.wait_for(gated.entered.wait(), 5)
    stopping = asyncio.create_task(src.stop())
    assert await idle.closed_by_server()
    with pytest.raises(OSError):
        await Peer.connect(src.address)  # no longer listening
    assert not stopping.done()
    assert gated.gate is not None
    gated.gate.set()
    assert segments(await busy.read_frame())["MSA"][1:3] == ["AA", "INFLIGHT"]
    assert await busy.closed_by_server()
    await asyncio.wait_for(stopping, 5)
    await src.stop()  # idempotent
    assert [e.metadata["hl7.control_id"] for e in gated.accepted] == ["INFLIGHT"]
    await idle.close()
    await busy.close()


async def test_address_before_start_and_port_in_use(intake: RecordingIntake) -> None:
    src = MllpSource("x", MllpSourceConfig(listen="127.0.0.1:0"))
    with pytest.raises(ChannelError):
        _ = src.address
    await src.stop()  # stop before start is a no-op
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = MllpSource("y", MllpSourceConfig(listen=f"127.0.0.1:{port}"))
        with pytest.raises(ChannelError, match="cannot listen"):
            await taken.start(intake)


async def test_describe(start_server: StartServer) -> None:
    src = await start_server()
    assert src.describe() == f"mllp://127.0.0.1:{src.address[1]}"


@pytest.mark.parametrize(
    ("raw", "location", "code"),
    [
        (b"MSH|^|HIS|CHU-X\r", "MSH^1^2", "102"),
        (b"MSHA^~\\&AHIS\r", "MSH^1^1", "102"),
        (message("X").replace(b"ADT^A01^ADT_A01", b""), "MSH^1^9", "101"),
        (message("X").replace(b"|P|2.5", b"||2.5"), "MSH^1^11", "101"),
    ],
)
async def test_bad_headers_get_ar_with_the_location(
    raw: bytes, location: str, code: str, start_server: StartServer, intake: RecordingIntake
) -> None:
    src = await start_server()
    peer = await Peer.connect(src.address)
    ack = segments(await peer.request(raw))
    assert ack["MSA"][1] == "AR"
    assert ack["ERR"][2] == location and ack["ERR"][3].split("^")[0] == code
    assert len(intake.rejected) == 1
    await peer.close()
