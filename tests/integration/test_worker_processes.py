"""Worker processes beside intake (``engine.worker_processes``): per-patient order, retries,
dead letters and replay hold across processes (real ``passerelle run``, real sockets).

The destination is a real MLLP peer in the test process; each worker process keeps its own
connection to it, so the peer sees which connections delivered.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from tests.support.cluster import Node, RecordingPeer, delivery_rows, eventually, send_in_order
from tests.support.fhir_bundles import adt
from tests.support.mllp import free_port

pytestmark = pytest.mark.slow

CONFIG = """\
version: 1
engine: {{home: {home}, workers: 4, worker_processes: 2, shutdown_grace: 2s,
          poll_interval: 200ms, lease: 3s}}
store: {{path: {home}/store.db}}
retry: {{max_attempts: 4, initial_backoff: 100ms, max_backoff: 200ms}}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:{port}"}}
destinations:
  peer:
    type: mllp
    address: "127.0.0.1:{peer}"
    ordering: {{key: patient}}
routes:
  - {{name: all, to: [peer]}}
"""


async def start(tmp_path: Path, peer: RecordingPeer) -> Node:
    home, port = tmp_path / "home", free_port()
    config = tmp_path / "routes.yaml"
    config.write_text(CONFIG.format(home=home, port=port, peer=peer.port))
    return await asyncio.to_thread(Node(config, port, tmp_path / "engine.log").start)


async def test_each_patient_in_order_across_worker_processes_with_retries(
    tmp_path: Path,
) -> None:
    peer = RecordingPeer()
    await peer.start()
    # transient refusals (AR 207) in the middle of two patients' streams
    peer.transient = {"P1-2": 2, "P3-0": 1, "P5-4": 3}
    node = await start(tmp_path, peer)
    try:
        acked: set[str] = set()
        # 8 patients x 6 messages; each sender sends its patients' messages in order
        streams = [
            [(f"P{p}-{i}", adt(f"P{p}-{i}", f"IPP{p}")) for i in range(6) for p in (s, s + 4)]
            for s in range(4)
        ]
        await asyncio.gather(*(send_in_order(node.port, msgs, acked) for msgs in streams))
        assert len(acked) == 48
        await eventually(lambda: len(peer.accepted) >= 48, what="every message delivered")
    finally:
        code = await asyncio.to_thread(node.stop)
        await peer.stop()
    assert code == 0, node.tail()
    # every patient's messages reached the peer once each, in the order sent
    for p in range(8):
        assert peer.order(f"P{p}-") == [f"P{p}-{i}" for i in range(6)]
    # the retries went through the store (one attempt per AR, then sent) ...
    rows = delivery_rows(tmp_path / "home" / "store.db")
    assert rows["P5-4"] == [("sent", 4)] and rows["P1-2"] == [("sent", 3)]
    # ... and both worker processes delivered (one peer connection each, at least)
    assert len({conn for _, conn in peer.accepted}) >= 2
    assert node.log.read_text().count("Worker process started.") == 2


async def test_a_dead_letter_holds_its_patient_until_replayed_while_workers_run(
    tmp_path: Path,
) -> None:
    peer = RecordingPeer()
    await peer.start()
    peer.refuse = {"A-0"}
    node = await start(tmp_path, peer)
    try:
        acked: set[str] = set()
        await send_in_order(node.port, [(f"A-{i}", adt(f"A-{i}", "IPPA")) for i in range(3)], acked)
        await send_in_order(node.port, [("B-0", adt("B-0", "IPPB"))], acked)
        db = tmp_path / "home" / "store.db"
        await eventually(lambda: peer.order("B-") == ["B-0"], what="B delivered")
        await eventually(  # A-0 may be routed after B-0 was delivered (two workers)
            lambda: delivery_rows(db).get("A-0", [("", 0)])[0][0] == "dead", what="A-0 dead"
        )
        await asyncio.sleep(1.0)  # several poller rounds: must still wait
        assert peer.order("A-") == []
        assert [delivery_rows(db)[f"A-{i}"][0][0] for i in (1, 2)] == ["pending", "pending"]
        # the peer is fixed; the operator replays the dead letter from another process
        peer.refuse.clear()
        replay = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "engine.cli",
            "replay",
            "--destination",
            "peer",
            "--dead",
            "-c",
            str(node.config),
        )
        assert await replay.wait() == 0
        await eventually(lambda: len(peer.order("A-")) == 3, what="patient A delivered")
    finally:
        code = await asyncio.to_thread(node.stop)
        await peer.stop()
    assert code == 0, node.tail()
    assert peer.order("A-") == ["A-0", "A-1", "A-2"]


async def test_sighup_restarts_the_worker_processes_and_work_goes_on(tmp_path: Path) -> None:
    peer = RecordingPeer()
    await peer.start()
    node = await start(tmp_path, peer)
    try:
        acked: set[str] = set()
        await send_in_order(node.port, [("H-0", adt("H-0", "IPPH"))], acked)
        await eventually(lambda: peer.order("H-") == ["H-0"], what="first delivery")
        assert node.proc is not None
        node.proc.send_signal(signal.SIGHUP)  # a configuration reload
        await eventually(
            lambda: node.log.read_text().count("Worker process started.") == 4,
            what="both worker processes started again",
        )
        await send_in_order(node.port, [("H-1", adt("H-1", "IPPH"))], acked)
        await eventually(lambda: peer.order("H-") == ["H-0", "H-1"], what="delivery after reload")
    finally:
        code = await asyncio.to_thread(node.stop)
        await peer.stop()
    assert code == 0, node.tail()
    assert node.log.read_text().count("Worker process restarted.") == 2
