"""The MLLP destination against the MLLP source and against scripted fake listeners."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from channels.mllp.client import MllpDestination, parse_ack
from channels.mllp.config import MllpDestinationConfig
from channels.mllp.framing import FrameDecoder, encode_frame
from channels.mllp.server import close_writer
from engine.components import DeliveryContext, Payload
from engine.errors import FramingError, PermanentDeliveryError, RetryableDeliveryError
from engine.formats.hl7v2 import AckError, build_ack, read_header
from engine.message import HL7V2
from engine.pki import make_ca
from tests.channels.mllp.conftest import StartServer
from tests.channels.mllp.support import RecordingIntake, message

CTX = DeliveryContext("d1", "m1", "out", 1, "m1:out")
Answer = Callable[[bytes], bytes | None]
MakeDest = Callable[..., Awaitable[MllpDestination]]


@pytest.fixture
async def make_dest() -> AsyncIterator[MakeDest]:
    made: list[MllpDestination] = []

    async def make(address: tuple[str, int], **config: Any) -> MllpDestination:
        host, port = address
        cfg = MllpDestinationConfig.model_validate({"address": f"{host}:{port}", **config})
        dest = MllpDestination("out", cfg)
        await dest.open()
        made.append(dest)
        return dest

    yield make
    for dest in made:
        await dest.close()


@pytest.fixture
async def fake_server() -> AsyncIterator[Callable[[Answer], Awaitable[tuple[str, int]]]]:
    """A listener answering each frame with ``answer(frame)`` (None: never answer)."""
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []

    async def start(answer: Answer) -> tuple[str, int]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            decoder = FrameDecoder(1 << 20)
            try:
                while data := await reader.read(65536):
                    for frame in decoder.feed(data):
                        reply = answer(frame)
                        if reply is not None:
                            writer.write(reply)
                            await writer.drain()
            except ConnectionAbortedError:
                pass  # the script asked to hang up
            except FramingError:  # not MLLP (e.g. a TLS ClientHello): stay silent until EOF
                while await reader.read(65536):
                    pass
            finally:
                await close_writer(writer)

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        host, port = server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    yield start
    for server in servers:
        server.close()
    for writer in writers:
        writer.transport.abort()
    for server in servers:
        await server.wait_closed()


def ack_for(code: str, *, control_id: str | None = None, text: str = "") -> Answer:
    def answer(frame: bytes) -> bytes:
        header = read_header(frame)
        errors = [AckError(204, text, segment="PID", field=3)] if text else []
        ack = build_ack(header, code, errors, text=text)
        if control_id is not None:
            msa = f"MSA|{code}|".encode()
            ack = ack.replace(msa + header.control_id.encode(), msa + control_id.encode())
        return encode_frame(ack)

    return answer


async def test_sends_to_the_mllp_source_on_one_connection(
    start_server: StartServer, intake: RecordingIntake, make_dest: MakeDest
) -> None:
    src = await start_server()
    dest = await make_dest(src.address)
    for i in range(5):
        assert await dest.send(Payload(message(f"OUT{i}"), HL7V2), CTX) == "ACK AA"
    assert [e.metadata["hl7.control_id"] for e in intake.accepted] == [f"OUT{i}" for i in range(5)]
    assert len({e.metadata["peer"] for e in intake.accepted}) == 1  # connection reused


async def test_concurrent_sends_are_serialised(
    start_server: StartServer, intake: RecordingIntake, make_dest: MakeDest
) -> None:
    src = await start_server()
    dest = await make_dest(src.address)
    results = await asyncio.gather(
        *(dest.send(Payload(message(f"PAR{i}"), HL7V2), CTX) for i in range(10))
    )
    assert results == ["ACK AA"] * 10
    assert len(intake.accepted) == 10


async def test_reconnects_after_the_server_closed_an_idle_connection(
    start_server: StartServer, intake: RecordingIntake, make_dest: MakeDest
) -> None:
    src = await start_server(idle_timeout="100ms")
    dest = await make_dest(src.address)
    assert await dest.send(Payload(message("R1"), HL7V2), CTX) == "ACK AA"
    await asyncio.sleep(0.4)
    assert await dest.send(Payload(message("R2"), HL7V2), CTX) == "ACK AA"
    assert len({e.metadata["peer"] for e in intake.accepted}) == 2


async def test_receiver_store_failure_is_retryable_then_delivered(
    start_server: StartServer, make_dest: MakeDest
) -> None:
    # Given a receiver whose store fails: it answers AR with ERR 207 ("resend later")
    failing = RecordingIntake(fail_accept=True)
    src = await start_server(intake_=failing)
    dest = await make_dest(src.address)
    internal = r"answered AR: ERR 207 \(Application internal error\)"
    with pytest.raises(RetryableDeliveryError, match=internal):
        await dest.send(Payload(message("E1"), HL7V2), CTX)
    # When its store recovers, Then the retry is accepted
    failing.fail_accept = False
    assert await dest.send(Payload(message("E1"), HL7V2), CTX) == "ACK AA"


async def test_ar_for_a_bad_message_is_permanent(
    start_server: StartServer, make_dest: MakeDest
) -> None:
    src = await start_server()
    dest = await make_dest(src.address)
    missing = r"answered AR: ERR 101 \(Required field missing\) MSH-1-10"
    with pytest.raises(PermanentDeliveryError, match=missing):
        await dest.send(Payload(message(""), HL7V2), CTX)
    # the connection is still usable after a negative ACK
    assert await dest.send(Payload(message("OK"), HL7V2), CTX) == "ACK AA"


async def test_nobody_listening_is_retryable(make_dest: MakeDest) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = s.getsockname()[:2]
    dest = await make_dest(address, connect_timeout="2s")
    with pytest.raises(RetryableDeliveryError, match="connection failed"):
        await dest.send(Payload(message("N1"), HL7V2), CTX)


async def test_no_ack_within_ack_timeout_is_retryable(
    fake_server: Callable[[Answer], Awaitable[tuple[str, int]]], make_dest: MakeDest
) -> None:
    address = await fake_server(lambda frame: None)
    dest = await make_dest(address, ack_timeout="200ms")
    with pytest.raises(RetryableDeliveryError, match=r"no ACK within ack_timeout \(0.2s\)"):
        await dest.send(Payload(message("T1"), HL7V2), CTX)


@pytest.mark.parametrize("code", ["AA", "CA"])
async def test_positive_codes(
    code: str, fake_server: Callable[[Answer], Awaitable[tuple[str, int]]], make_dest: MakeDest
) -> None:
    dest = await make_dest(await fake_server(ack_for(code)))
    assert await dest.send(Payload(message("P1"), HL7V2), CTX) == f"ACK {code}"


@pytest.mark.parametrize("code", ["AE", "AR", "CE", "CR"])
async def test_negative_codes_are_permanent_with_the_err_code_and_location(
    code: str, fake_server: Callable[[Answer], Awaitable[tuple[str, int]]], make_dest: MakeDest
) -> None:
    dest = await make_dest(await fake_server(ack_for(code, text="unknown patient identifier")))
    with pytest.raises(PermanentDeliveryError) as info:
        await dest.send(Payload(message("N1"), HL7V2), CTX)
    assert f"answered {code}" in str(info.value)
    assert "ERR 204 (Unknown key identifier) PID-1-3" in str(info.value)
    assert "unknown patient identifier" not in str(info.value)  # the peer's text may quote


async def test_ack_for_another_message_is_retryable(
    fake_server: Callable[[Answer], Awaitable[tuple[str, int]]], make_dest: MakeDest
) -> None:
    dest = await make_dest(await fake_server(ack_for("AA", control_id="SOMEONE-ELSE")))
    with pytest.raises(RetryableDeliveryError, match="SOMEONE-ELSE"):
        await dest.send(Payload(message("MINE"), HL7V2), CTX)


@pytest.mark.parametrize(
    "reply",
    [b"HTTP/1.1 400 Bad Request\r\n\r\n", encode_frame(b"not hl7"), encode_frame(b"MSH|^~\\&|A\r")],
)
async def test_garbage_answers_are_retryable(
    reply: bytes, fake_server: Callable[[Answer], Awaitable[tuple[str, int]]], make_dest: MakeDest
) -> None:
    dest = await make_dest(await fake_server(lambda frame: reply), ack_timeout="2s")
    with pytest.raises(RetryableDeliveryError):
        await dest.send(Payload(message("G1"), HL7V2), CTX)


async def test_server_closing_without_ack_is_retryable(
    fake_server: Callable[[Answer], Awaitable[tuple[str, int]]], make_dest: MakeDest
) -> None:
    def close(frame: bytes) -> bytes:
        raise ConnectionAbortedError  # the fake handler hangs up without answering

    dest = await make_dest(await fake_server(close))
    with pytest.raises(RetryableDeliveryError):
        await dest.send(Payload(message("C1"), HL7V2), CTX)


async def test_payload_with_block_characters_is_permanent(make_dest: MakeDest) -> None:
    dest = await make_dest(("127.0.0.1", 9))
    with pytest.raises(PermanentDeliveryError, match="cannot frame"):
        await dest.send(Payload(message("B1") + b"\x1c", HL7V2), CTX)


def test_parse_ack() -> None:
    header = read_header(message("X9"))
    ack = build_ack(header, "AE", [AckError(207, "disk full")], text="try again")
    code, control_id, detail, _ = parse_ack(ack)
    assert (code, control_id) == ("AE", "X9")
    assert detail == "ERR 207 (Application internal error)"  # the texts are not kept
    v23 = b"MSH|^~\\&|B|F|A|F|2024||ACK|1|P|2.3\rMSA|AR|X9\rERR|MSH^1^10^101&missing\r"
    assert parse_ack(v23)[:3] == ("AR", "X9", "ERR 101 (Required field missing) MSH-1-10")
    quoting = build_ack(
        header,
        "AE",
        [AckError(103, "PID-5 DUPONT^JEAN is wrong", segment="PID", field=5)],
        text="patient DUPONT JEAN 2850175123456",
    )
    assert parse_ack(quoting)[2] == "ERR 103 (Table value not found) PID-1-5"


async def test_tls_handshake_without_answer_hits_connect_timeout(
    fake_server: Callable[[Answer], Awaitable[tuple[str, int]]],
    make_dest: MakeDest,
    tmp_path: Path,
) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_bytes(make_ca("CA")[0])
    address = await fake_server(lambda frame: None)  # plain TCP: never answers the ClientHello
    dest = await make_dest(address, connect_timeout="200ms", tls={"ca_file": str(ca)})
    with pytest.raises(RetryableDeliveryError, match="no connection within connect_timeout"):
        await dest.send(Payload(message("H1"), HL7V2), CTX)
