"""No patient data in logs, stored reasons, CLI output or ACK texts, on every MLLP refusal.

Messages full of the sample patient's names, INS, birth date, phone numbers and address go
through each refusal path of a real engine (SQLite store, MLLP over 127.0.0.1): unsupported
MSH-18 (a name in it, an unknown charset), an MSH-10 with ANSI escapes and an INS, an
over-long MSH-10, the channel limits, strict PAM-FR validation, DMP gating, an oversize
frame, bytes not valid in the declared charset, and an MLLP peer whose AE quotes the
patient. Then the captured log lines (text and JSON formatters), ``passerelle messages
list/show`` (table and JSON) and the ACK bytes are searched for every sample value.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from channels.mllp.framing import FrameDecoder, encode_frame
from engine.app import Engine
from engine.cli import main
from engine.logs import JsonFormatter, TextFormatter
from engine.message import DeliveryState, MessageState
from engine.store.base import MessageQuery, StoredMessage
from tests.engine.formats.cda.builders import TEST_INS, cda, oru
from tests.support.engines import mllp_port, running_engine
from tests.support.mllp import MllpPeer, msa
from tests.support.patient_data import SAMPLE, assert_no_patient_data, leaks

CONFIG = """\
version: 1
engine: {{home: {home}, workers: 2, shutdown_grace: 2s}}
store: {{backend: sqlite, path: {home}/store.db}}
channels:
  gam:
    type: mllp
    listen: "127.0.0.1:0"
    max_frame_size: 16KiB
    hl7: {{validation: strict, dmp_gating: refuse, max_repetitions: 20}}
destinations:
  archive: {{type: file, directory: {home}/out}}
  peer: {{type: mllp, address: "127.0.0.1:{peer_port}", ack_timeout: 5s}}
routes:
  - name: results_to_peer
    when: {{message_type: ORU}}
    to: [peer]
  - name: everything
    to: [archive]
"""
# values of the CDA builder's test patient, also present in the DMP-gated ORU
CDA_PATIENT = (TEST_INS, "TESTPATIENT", "ALPHA BETA", "19790328")


def adt(control_id: str = "CTRL-1", *, msh18: str = "UNICODE UTF-8", pid: str = "") -> bytes:
    return (
        "MSH|^~\\&|GAM|CHU-EXEMPLE|PASSERELLE|GRADES|20261120093012||ADT^A01^ADT_A01|"
        f"{control_id}|P|2.5^FRA^2.11|||||FRA|{msh18}\r"
        "EVN||20261120093012\r"
        f"{pid or SAMPLE.pid()}\r"
        "PV1|1|I|CARDIO^101^1^CHU||||||||||||||||VN123^^^CHU&1.2.250.1.999.3&ISO^AN\r"
        f"ZBE|MVT1^CHU|20261120093012||INSERT|N||||HMS\r"
    ).encode()


def ack_peer_answer(frame: bytes) -> bytes:
    """An AE of a careless peer, quoting the patient in MSA-3 and ERR-8."""
    control_id = frame.split(b"\r", 1)[0].split(b"|")[9]
    return (
        b"MSH|^~\\&|LAB|X|PASSERELLE|GRADES|20261120||ACK|A1|P|2.5\r"
        b"MSA|AE|"
        + control_id
        + f"|patient {SAMPLE.family} {SAMPLE.given} unknown\r".encode()
        + f"ERR||PID^1^3|204^Unknown key^HL70357|E||||INS {SAMPLE.nir} not found\r".encode()
    )


@pytest.fixture
async def peer_port() -> AsyncIterator[int]:
    """A real MLLP listener answering every frame with :func:`ack_peer_answer`."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder(1 << 20)
        while data := await reader.read(65536):
            for frame in decoder.feed(data):
                writer.write(encode_frame(ack_peer_answer(frame)))
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


@pytest.fixture
async def engine(tmp_path: Path, peer_port: int) -> AsyncIterator[tuple[Engine, Path]]:
    text = CONFIG.format(home=tmp_path, peer_port=peer_port)
    config = tmp_path / "routes.yaml"
    config.write_text(text)
    async with running_engine(text) as eng:
        yield eng, config


async def settled(engine: Engine, count: int) -> list[StoredMessage]:
    async with asyncio.timeout(30):
        while True:
            found = await engine.store.list_messages(MessageQuery(limit=100))
            done = [m for m in found if m.state.finished]
            dead = [
                d
                for m in found
                for d in await engine.store.deliveries(m.envelope.id)
                if d.destination == "peer" and d.state is DeliveryState.DEAD
            ]
            if len(done) >= count and dead:
                assert (
                    dead[0].last_error and "ERR 204 (Unknown key identifier)" in dead[0].last_error
                )
                return found
            await asyncio.sleep(0.05)


async def cli(*args: str) -> Result:
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args))
    assert result.exit_code == 0, result.output
    return result


async def test_no_refusal_path_shows_patient_data(
    engine: tuple[Engine, Path], caplog: pytest.LogCaptureFixture
) -> None:
    eng, config = engine
    caplog.set_level(logging.DEBUG)
    port = mllp_port(eng, "gam")
    bad_key = SAMPLE.pid().replace(SAMPLE.nir, SAMPLE.nir[:13] + "99")
    reps = SAMPLE.pid().replace(
        f"{SAMPLE.ipp}^^^", "~".join([f"{SAMPLE.nir}^^^X^PI"] * 25) + f"~{SAMPLE.ipp}^^^"
    )
    gated = oru(cda(), pid32="PROV").replace(b"TEST^A^A", SAMPLE.family.encode() + b"^A")
    latin1 = adt("CTRL-LATIN1").replace(
        SAMPLE.second_given.encode(), SAMPLE.second_given.encode("latin-1")
    )  # declared UTF-8, one byte of 8859-1
    cases: dict[str, tuple[bytes, str]] = {
        "msh18 holding a name": (adt(msh18=f"{SAMPLE.family} {SAMPLE.given}"), "AR"),
        "msh18 unknown charset": (adt("CTRL-2", msh18="ISO-2022-JP"), "AR"),
        "msh10 ansi and ins": (adt(f"\x1b[31m{SAMPLE.nir} {SAMPLE.family}\x1b[0m"), "AR"),
        "msh10 over-long": (adt(f"{SAMPLE.family}-{SAMPLE.phone}-" * 12), "AR"),
        "repetitions over the limit": (adt("CTRL-3", pid=reps), "AE"),
        "strict pam-fr": (adt("CTRL-4", pid=bad_key), "AE"),
        "dmp gating": (gated, "AE"),
        "charset damage": (latin1, "AE"),
        "peer quoting the patient": (gated.replace(b"|PROV", b"|VALI"), "AA"),
        "event code holding a name": (
            adt("CTRL-5").replace(b"ADT^A01^", f"ADT^{SAMPLE.family}^".encode()),
            "AA",  # an event PAM-FR does not use: accepted and filtered
        ),
    }
    acks: dict[str, bytes] = {}
    async with MllpPeer("127.0.0.1", port) as peer:
        for name, (frame, expected) in cases.items():
            ack = await peer.exchange(frame.replace(b"CTRL1", f"C-{len(acks)}".encode()))
            assert msa(ack)[1] == expected, (name, ack)
            acks[name] = ack
    async with MllpPeer("127.0.0.1", port) as big:  # over max_frame_size: AR, then closed
        acks["oversize"] = await big.exchange(adt("CTRL-BIG") + b"NTE|1||" + b"x" * 20_000)
        assert msa(acks["oversize"])[1] == "AR"

    stored = await settled(eng, len(cases))
    assert {m.state for m in stored} >= {MessageState.REJECTED, MessageState.ROUTED}
    listing = await cli("messages", "list", "-c", str(config))
    as_json = await cli("messages", "list", "-c", str(config), "--json")
    shows = [await cli("messages", "show", "-c", str(config), m.envelope.id) for m in stored]
    records = caplog.records
    logged = [TextFormatter().format(r) for r in records] + [
        JsonFormatter().format(r) for r in records
    ]

    assert_no_patient_data(
        CDA_PATIENT,
        ack=list(acks.values()),
        log=logged,
        reasons=[m.reason for m in stored],
        cli_list=listing.output,
        cli_json=as_json.output,
        cli_show=[s.output for s in shows],
    )
    # the grep does find what it looks for: the raw messages do carry the sample values
    assert leaks(cases["strict pam-fr"][0]) and leaks(cases["msh10 ansi and ins"][0])
    assert "\x1b" not in "".join(logged) + listing.output
    assert "invalid-id:" in listing.output  # the ANSI MSH-10, shown as a digest


def test_the_grep_helper_finds_spaced_identifiers_and_accents() -> None:
    assert leaks("INS 2 85 01 75 123 456 56") == [SAMPLE.nir]
    assert leaks("tel 06.12.34.56.78") == [SAMPLE.phone]
    assert leaks(SAMPLE.second_given.encode("latin-1")) == [SAMPLE.second_given]
    assert leaks("quentinelle") == [SAMPLE.family]
    assert leaks("message 01HZX3 accepted, control id ADT0001") == []
    check: Callable[..., None] = assert_no_patient_data
    with pytest.raises(AssertionError, match="log leaks"):
        check(log=f"refused: {SAMPLE.family}")
