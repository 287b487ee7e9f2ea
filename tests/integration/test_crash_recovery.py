"""Crash test: the engine is SIGKILLed mid-stream and restarted (real processes, sockets),
in each process topology: everything in one process, worker processes beside intake, and
worker processes on dramatiq + Redis (the parent's SIGKILL takes its workers down too).

Every message that got an AA must be delivered exactly once to the file destination; a
message that got no ACK may or may not have been stored (it was in flight), but the engine
never acknowledged anything it had not committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cluster import deliveries_by_control_id
from tests.support.engine_process import start_engine, wait_listening
from tests.support.mllp import MllpPeer, adt, free_port, msa
from tests.support.redis import running_redis

pytestmark = pytest.mark.slow

CONFIG = """\
version: 1
engine: {{home: {home}, workers: 4, shutdown_grace: 2s{engine}}}
store: {{backend: sqlite, path: {home}/store.db}}
{queue}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:{port}"}}
destinations:
  out: {{type: file, directory: {home}/out}}
routes:
  - {{name: all, to: [out]}}
"""


async def send_until_killed(
    port: int, ids: list[str], proc: subprocess.Popen[bytes], kill_after: int, streams: int
) -> set[str]:
    acked: set[str] = set()
    killed = asyncio.Event()

    async def stream(chunk: list[str]) -> None:
        try:
            async with MllpPeer("127.0.0.1", port) as peer:
                for control_id in chunk:
                    ack = await peer.exchange(adt(control_id), timeout=5)
                    fields = msa(ack)
                    assert fields[1:3] == ["AA", control_id]
                    acked.add(control_id)
                    if len(acked) >= kill_after and not killed.is_set():
                        killed.set()
                        proc.send_signal(signal.SIGKILL)
        except (TimeoutError, ConnectionError, OSError, asyncio.IncompleteReadError):
            pass  # the engine died under us: expected

    await asyncio.gather(*(stream(ids[i::streams]) for i in range(streams)))
    return acked


async def stored(config: Path) -> dict[str, list[str]]:
    """control id -> the delivery states of every stored copy (any store backend)."""
    rows = await deliveries_by_control_id(config)
    return {c: [d.state.value for ds in copies for d in ds] for c, copies in rows.items()}


# in-process (the embedded default); worker processes on the in-process queue; worker
# processes on dramatiq + a real Redis. Worker processes claim work with short leases.
MODES = {
    "in-process": ("", ""),
    "worker-processes": (", worker_processes: 2, lease: 2s, poll_interval: 200ms", ""),
    "dramatiq": (
        ", worker_processes: 2, lease: 2s, poll_interval: 200ms",
        "queue: {{backend: dramatiq, redis_url: '{redis}', requeue_after: 1s}}",
    ),
    "postgres-dramatiq": (
        ", worker_processes: 2, lease: 2s, poll_interval: 200ms",
        "queue: {{backend: dramatiq, redis_url: '{redis}', requeue_after: 1s}}\n"
        "store: {{backend: postgres, dsn: '{dsn}'}}",
    ),
}


@pytest.mark.parametrize("mode", list(MODES))
async def test_sigkill_mid_stream_loses_nothing_acknowledged(
    tmp_path: Path, mode: str, request: pytest.FixtureRequest
) -> None:
    home, port, log = tmp_path / "home", free_port(), tmp_path / "engine.log"
    config = tmp_path / "routes.yaml"
    engine, queue = MODES[mode]
    with contextlib.ExitStack() as stack:
        if "dramatiq" in mode:
            redis = stack.enter_context(contextlib.contextmanager(running_redis)(tmp_path / "r"))
            dsn = request.getfixturevalue("pg_dsn") if "postgres" in mode else ""
            queue = queue.format(redis=redis.url, dsn=dsn)
        text = CONFIG.format(home=home, port=port, engine=engine, queue=queue)
        if "postgres" in mode:  # the queue entry brings its own store line
            text = text.replace(f"store: {{backend: sqlite, path: {home}/store.db}}\n", "")
        config.write_text(text)
        await crash_and_restart(config, home, port, log)


async def crash_and_restart(config: Path, home: Path, port: int, log: Path) -> None:
    ids = [f"CRASH{i:05d}" for i in range(400)]
    streams = 4

    # Given a running engine receiving 400 messages on 4 connections
    proc = start_engine(config, log)
    wait_listening(port, proc, log)
    # When it is SIGKILLed after 150 acknowledgements
    acked = await send_until_killed(port, ids, proc, kill_after=150, streams=streams)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert 150 <= len(acked) < len(ids)
    before_restart = await stored(config)
    # Then every acknowledged message was committed before its ACK ...
    assert acked <= set(before_restart)
    # ... and at most one unacknowledged message per connection was in flight and stored
    assert len(set(before_restart) - acked) <= streams

    # When the engine restarts
    proc = start_engine(config, log)
    try:
        wait_listening(port, proc, log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = await stored(config)
            if all(states[c] == ["sent"] for c in acked):
                break
            await asyncio.sleep(0.1)
        # Then every acknowledged message is delivered, once, to exactly one file
        states = await stored(config)
        assert {c: states[c] for c in acked} == {c: ["sent"] for c in acked}
        files = {p.name: p.read_bytes() for p in (home / "out").iterdir()}
        assert not [n for n in files if n.startswith(".")], "temporary files left behind"
        for control_id in acked:
            assert files[f"GAM_CHU-EXEMPLE_{control_id}.hl7"] == adt(control_id)
        # And nothing is delivered that was never stored
        delivered = {n.removeprefix("GAM_CHU-EXEMPLE_").removesuffix(".hl7") for n in files}
        assert delivered <= set(states)

        # When the sender resends what it got no ACK for, as MLLP senders do
        missing = [c for c in ids if c not in acked]
        async with MllpPeer("127.0.0.1", port) as peer:
            for control_id in missing:
                assert msa(await peer.exchange(adt(control_id)))[1] == "AA"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if len(list((home / "out").glob("*.hl7"))) == len(ids):
                break
            await asyncio.sleep(0.1)
        # Then all 400 messages exist exactly once in the destination directory
        assert sorted(p.name for p in (home / "out").glob("*.hl7")) == sorted(
            f"GAM_CHU-EXEMPLE_{c}.hl7" for c in ids
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log.read_text()[-3000:]
