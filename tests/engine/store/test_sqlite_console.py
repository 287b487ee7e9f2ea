"""SQLite-only console behaviour: the append-only audit, schema migration with counter
backfill, and query plans that use indexes (plans, never timings)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

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
