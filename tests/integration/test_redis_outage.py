"""Redis lost mid-load (dramatiq queue): intake keeps acknowledging, and once Redis is back
the store poller enqueues again what Redis lost; every AA'd message is delivered exactly
once (real redis-server killed with SIGKILL, no persistence; real ``passerelle run`` with a
worker process)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Node, delivery_rows, eventually
from tests.support.mllp import MllpPeer, adt, free_port, msa
from tests.support.redis import RedisServer, running_redis

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CONFIG = """\
version: 1
engine: {{home: {home}, workers: 4, worker_processes: 1, shutdown_grace: 2s,
          poll_interval: 200ms, lease: 3s}}
store: {{path: {home}/store.db}}
queue: {{backend: dramatiq, redis_url: "{redis}", requeue_after: 1s}}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:{port}"}}
destinations:
  out: {{type: file, directory: {home}/out}}
routes:
  - {{name: all, to: [out]}}
"""


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from running_redis(tmp_path / "redis")


async def test_killing_redis_mid_load_loses_nothing(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    home, port = tmp_path / "home", free_port()
    config = tmp_path / "routes.yaml"
    config.write_text(CONFIG.format(home=home, port=port, redis=redis_server.url))
    node = await asyncio.to_thread(Node(config, port, tmp_path / "engine.log").start)
    ids = [f"R{i:04d}" for i in range(300)]
    acked: set[str] = set()
    outage = {"killed": False, "restarted": False}

    async def stream(chunk: list[str]) -> None:
        async with MllpPeer("127.0.0.1", port) as peer:
            for control_id in chunk:
                assert msa(await peer.exchange(adt(control_id), timeout=20))[1] == "AA"
                acked.add(control_id)
                if len(acked) >= 80 and not outage["killed"]:
                    outage["killed"] = True
                    redis_server.kill()  # everything queued on Redis is gone
                elif len(acked) >= 200 and not outage["restarted"]:
                    outage["restarted"] = True
                    redis_server.start()

    try:
        # Given 300 messages on 4 connections, Redis killed after 80 ACKs, back after 200
        await asyncio.gather(*(stream(ids[i::4]) for i in range(4)))
        # Then intake acknowledged every message (the store, not Redis, is the boundary)
        assert acked == set(ids) and outage == {"killed": True, "restarted": True}
        # And every message is delivered, once, with one attempt
        db = home / "store.db"
        await eventually(
            lambda: (
                all(r == [("sent", 1)] for r in delivery_rows(db).values())
                and len(delivery_rows(db)) == len(ids)
            ),
            timeout=90,
            what="every delivery sent",
        )
    finally:
        code = await asyncio.to_thread(node.stop)
    assert code == 0, node.tail()
    files = sorted(p.name for p in (home / "out").iterdir())
    assert files == sorted(f"GAM_CHU-EXEMPLE_{c}.hl7" for c in ids)
    assert all((home / "out" / f"GAM_CHU-EXEMPLE_{c}.hl7").read_bytes() == adt(c) for c in ids)
    assert "Redis unreachable" in node.log.read_text()
