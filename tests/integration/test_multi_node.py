"""Two nodes on one PostgreSQL store and one Redis; one is SIGKILLed mid-load, never
restarted. Real processes throughout: two ``passerelle run`` nodes (each with a worker
process), ``postgres``, ``redis-server``, and an MLLP peer that answers slowly so that
sends are in flight when the node dies.

Eight senders, four per node, each sending its two patients' messages in order on one
connection. When node A dies, its senders resend what got no AA to node B and go on
there. Then: every acknowledged message is stored once and delivered (exactly one
delivery, sent); the peer sees each patient's messages in the order sent; a message
the peer received twice is one whose ACK was lost with node A (the sender's resend, or a
send cut by the kill); and the work node A had claimed was finished by node B, only after
A's lease had expired.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from tests.support.cluster import Node, RecordingPeer, deliveries_by_control_id, eventually
from tests.support.fhir_bundles import adt
from tests.support.mllp import MllpPeer, free_port, msa
from tests.support.redis import RedisServer, running_redis

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CONFIG = """\
version: 1
engine: {{home: {home}, node: {node}, workers: 4, worker_processes: 1, shutdown_grace: 2s,
          poll_interval: 200ms, lease: 5s}}
store: {{backend: postgres, dsn: "{dsn}"}}
queue: {{backend: dramatiq, redis_url: "{redis}", requeue_after: 1s}}
channels:
  mllp_in: {{type: mllp, listen: "127.0.0.1:{port}"}}
destinations:
  peer: {{type: mllp, address: "127.0.0.1:{peer}", ordering: {{key: patient}}}}
routes:
  - {{name: all, to: [peer]}}
"""
SENDERS, PATIENTS_PER_SENDER, MESSAGES_PER_PATIENT = 8, 2, 20


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from running_redis(tmp_path / "redis")


async def claimed_by(dsn: str, owner_prefix: str) -> dict[str, datetime]:
    """Unfinished deliveries under a claim of ``owner_prefix``: id -> claim expiry (one
    query, read at once: the claims must be seen before their lease ends)."""
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cursor = await conn.execute(
            "SELECT id, claim_until FROM deliveries WHERE claim_owner LIKE %s"
            " AND state IN ('pending', 'retrying')",
            (owner_prefix + "%",),
        )
        return {row[0]: row[1] for row in await cursor.fetchall()}


def plan() -> list[list[tuple[str, bytes]]]:
    """Per sender, its patients' messages interleaved, each patient's in order."""
    out = []
    for s in range(SENDERS):
        patients = [f"S{s}P{p}" for p in range(PATIENTS_PER_SENDER)]
        out.append(
            [
                (f"{pat}-{i:02d}", adt(f"{pat}-{i:02d}", f"IPP{pat}"))
                for i in range(MESSAGES_PER_PATIENT)
                for pat in patients
            ]
        )
    return out


class Sender:
    """Sends its messages in order to its node; after a failure, resends what got no AA
    to the survivor and goes on there."""

    def __init__(self, messages: list[tuple[str, bytes]], port: int, survivor: int) -> None:
        self.messages, self.port, self.survivor = messages, port, survivor
        self.acked: list[str] = []
        self.unacked_at_failure: str | None = None

    async def run(self) -> None:
        position = 0
        try:
            async with MllpPeer("127.0.0.1", self.port) as peer:
                while position < len(self.messages):
                    control_id, raw = self.messages[position]
                    ack = await peer.exchange(raw, timeout=10)
                    assert msa(ack)[1:3] == ["AA", control_id]
                    self.acked.append(control_id)
                    position += 1
                    await asyncio.sleep(0.05)  # a feed, not a flood: the load lasts
        except (TimeoutError, ConnectionError, OSError, asyncio.IncompleteReadError):
            self.unacked_at_failure = self.messages[position][0]
        if position == len(self.messages):
            return
        async with MllpPeer("127.0.0.1", self.survivor) as peer:  # failover
            for control_id, raw in self.messages[position:]:
                assert msa(await peer.exchange(raw, timeout=20))[1:3] == ["AA", control_id]
                self.acked.append(control_id)


async def test_a_node_killed_mid_load_loses_nothing_and_its_claims_are_taken_over(
    tmp_path: Path, pg_dsn: str, redis_server: RedisServer
) -> None:
    peer = RecordingPeer(delay=0.05)
    await peer.start()
    nodes: dict[str, Node] = {}
    for name in ("node-a", "node-b"):
        home, port = tmp_path / name, free_port()
        home.mkdir()
        config = home / "routes.yaml"
        text = CONFIG.format(
            home=home, node=name, dsn=pg_dsn, redis=redis_server.url, port=port, peer=peer.port
        )
        config.write_text(text)
        nodes[name] = Node(config, port, home / "engine.log")
    a, b = nodes["node-a"], nodes["node-b"]
    try:
        for node in (a, b):
            await asyncio.to_thread(node.start)
            await eventually(lambda n=node: n.workers_ready() == 1, what="worker process up")
        messages = plan()
        senders = [
            Sender(msgs, (a if i < SENDERS // 2 else b).port, b.port)
            for i, msgs in enumerate(messages)
        ]
        total = sum(len(m) for m in messages)
        running = [asyncio.create_task(s.run()) for s in senders]

        # When node A is SIGKILLed (with its worker process) while it sends (holds claims)
        async def a_sends() -> bool:
            return len(peer.accepted) >= 10 and bool(await claimed_by(pg_dsn, "node-a:"))

        await eventually(a_sends, what="node A delivering")
        assert not all(r.done() for r in running), "the load ended before the kill"
        await asyncio.to_thread(a.kill)
        orphans = await claimed_by(pg_dsn, "node-a:")
        await asyncio.gather(*running)

        # Then every acknowledged message is delivered, once per stored copy
        acked = {c for s in senders for c in s.acked}
        assert len(acked) == total

        async def all_sent() -> bool:
            rows = await deliveries_by_control_id(a.config)
            return set(rows) >= acked and all(
                len(ds) == 1 and ds[0].state.value == "sent"
                for copies in rows.values()
                for ds in copies
            )

        await eventually(all_sent, timeout=120, what="every delivery sent")
    finally:
        code = await asyncio.to_thread(b.stop)
        a.stop()
        await peer.stop()
    assert code == 0, b.tail()
    rows = await deliveries_by_control_id(b.config)
    unacked = {s.unacked_at_failure for s in senders} - {None}
    # a message is stored twice only when its first copy got no AA (the sender resent it)
    assert {c for c, copies in rows.items() if len(copies) > 1} <= unacked
    # the peer saw every message; twice only when an ACK was lost with node A
    seen = [c for c, _ in peer.accepted]
    assert set(seen) == acked
    lost_ack = unacked | {
        c for c, copies in rows.items() for ds in copies for d in ds if d.id in orphans
    }
    assert {c for c in seen if seen.count(c) > 1} <= lost_ack
    # each patient's messages reached the peer in the order sent (repeats collapsed)
    for msgs in messages:
        for pat in {c.split("-")[0] for c, _ in msgs}:
            order = [c for c in peer.order(f"{pat}-")]
            collapsed = [c for i, c in enumerate(order) if i == 0 or order[i - 1] != c]
            assert collapsed == [c for c, _ in msgs if c.startswith(f"{pat}-")], pat
    # node A had claimed work in flight; node B finished it, after A's lease expired
    assert orphans, "node A held no claim when it was killed: the load was too light"
    for delivery_id, claim_until in orphans.items():
        finished = next(
            d for copies in rows.values() for ds in copies for d in ds if d.id == delivery_id
        )
        assert finished.state.value == "sent" and finished.updated_at >= claim_until
