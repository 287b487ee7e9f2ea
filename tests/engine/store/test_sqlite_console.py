"""SQLite-only console behaviour: the append-only audit, schema migration with counter
backfill, and query plans that use indexes (plans, never timings)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.message import DeliveryState, MessageState
from engine.store import _sqlite_search as search
from engine.store.base import MessageQuery
from engine.store.console import AuditEntry, AuditQuery
from engine.store.sqlite import SqliteStore

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = SqliteStore(tmp_path / "store.db")
    await s.open()
    yield s
    await s.close()


async def test_audit_rows_can_be_neither_updated_nor_deleted(store: SqliteStore) -> None:
    # Given an audited act
    await store.append_audit(AuditEntry(T0, "alice", "replay", "M1", "ok"))
    # When anyone with the file tries to rewrite or erase it, Then SQLite refuses
    with sqlite3.connect(store.path) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit SET outcome='denied'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit")
    (entry,) = await store.audit_entries(AuditQuery())
    assert entry.outcome == "ok"


PLANS = [
    (MessageQuery(before_id="01J"), ["SEARCH m USING COVERING INDEX sqlite_autoindex_messages_1"]),
    (MessageQuery(channel="a", before_id="01J"), ["messages_channel (channel=? AND id<?)"]),
    (
        MessageQuery(channel="a", state=MessageState.ERROR, before_id="01J"),
        ["messages_channel_state (channel=? AND state=? AND id<?)"],
    ),
    (MessageQuery(state=MessageState.ERROR), ["messages_state (state=?)"]),
    (
        MessageQuery(patient_key=b"P" * 17, before_id="01J"),
        ["SEARCH p USING PRIMARY KEY (key=? AND message_id<?)", "(id=?)"],
    ),
    (
        MessageQuery(channels=("a", "b"), state=MessageState.ERROR),
        ["messages_channel_state (channel=? AND state=?)"] * 2,
    ),
    (MessageQuery(since=T0), ["sqlite_autoindex_messages_1 (id>?)"]),
    (
        MessageQuery(destination="lab", delivery_state=DeliveryState.DEAD),
        ["sqlite_autoindex_messages_1", "(message_id=?)"],
    ),
    (MessageQuery(route="r", before_id="01J"), ["(id<?)", "(message_id=? AND route=?)"]),
]


@pytest.mark.parametrize(("query", "expected"), PLANS)
async def test_message_search_walks_an_index_in_id_order(
    store: SqliteStore, query: MessageQuery, expected: list[str]
) -> None:
    # the plans, not timings: each search seeks an index in id order, never sorts
    with sqlite3.connect(store.path) as conn:
        details = search.plan(conn, query)
    assert not any("TEMP B-TREE" in d or d.startswith("SCAN d") for d in details), details
    for fragment in expected:
        assert any(fragment in d for d in details), (fragment, details)
    searches = [d for d in details if "USING" in d]
    assert all("INDEX" in d or "PRIMARY KEY" in d for d in searches), details
