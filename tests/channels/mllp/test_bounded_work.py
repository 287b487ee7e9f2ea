"""One costly frame never stalls the listener: two real MLLP clients on 127.0.0.1."""

from __future__ import annotations

import asyncio

from channels.mllp.framing import encode_frame
from tests.channels.mllp.conftest import StartServer
from tests.channels.mllp.support import Peer, RecordingIntake, message, segments

TILDE_RUN = 49_000  # the 49 KB PID-3 of the security probe


def tilde_frame(control_id: str) -> bytes:
    return message(control_id).replace(b"PID|1||123^^^CHU-X^PI", b"PID|1||" + b"~" * TILDE_RUN)


def result(control_id: str) -> bytes:
    """An ORU (not subject to the PAM-FR validation the channel applies to ADT)."""
    return message(control_id).replace(b"ADT^A01^ADT_A01", b"ORU^R01^ORU_R01")


async def test_default_limits_refuse_the_tilde_run_frame_at_once(
    start_server: StartServer, intake: RecordingIntake
) -> None:
    src = await start_server()
    peer = await Peer.connect(src.address)
    ack = segments(await peer.request(tilde_frame("BIG-1")))
    assert ack["MSA"][1:4] == [
        "AE",
        "BIG-1",
        "PID-3 has more repetitions than the channel allows (1000)",
    ]
    assert ack["ERR"][2:4] == ["PID^1^3", "198^Non-conformant cardinality^HL70357"]
    [(_, reason)] = intake.rejected
    assert reason == "PID-3 has more repetitions than the channel allows (1000)"
    # the connection stays usable
    assert segments(await peer.request(message("NEXT-1")))["MSA"][1:3] == ["AA", "NEXT-1"]
    await peer.close()


async def test_a_tilde_run_frame_is_answered_while_another_connection_flows(
    start_server: StartServer, intake: RecordingIntake
) -> None:
    # limits raised and strict validation on: the frame is examined in full, which takes
    # far longer than one round trip of an ordinary message
    hl7 = {"validation": "strict", "max_repetitions": 1_000_000}
    src = await start_server(hl7=hl7)
    big, small = await Peer.connect(src.address), await Peer.connect(src.address)
    await big.write(encode_frame(tilde_frame("BIG-1")))
    big_ack = asyncio.create_task(big.read_frame(timeout=120))
    flowed = 0
    while not big_ack.done() and flowed < 2_000:
        ack = segments(await small.request(result(f"SMALL-{flowed}")))
        assert ack["MSA"][1:3] == ["AA", f"SMALL-{flowed}"]
        flowed += 1
    raw_ack = await big_ack
    ack = segments(raw_ack)
    # Examined on the event loop, the big frame would hold every connection: at most the
    # one message already read could be answered first. Off the loop, they keep flowing.
    assert flowed >= 3
    assert ack["MSA"][1:3] == ["AE", "BIG-1"]
    assert b"ERR||PID^1^3|101^" in raw_ack  # strict PAM-FR: PID-3 holds no identifier
    assert [e.metadata["hl7.control_id"] for e in intake.accepted][:3] == [
        "SMALL-0",
        "SMALL-1",
        "SMALL-2",
    ]
    await big.close()
    await small.close()
