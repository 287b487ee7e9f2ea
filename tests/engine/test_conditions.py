"""The store-full condition: detected from the real SQLite error, one alert, counters,
and recovery on the next successful commit (in process, SQLite's max_page_count)."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Mapping
from pathlib import Path

import pytest

from engine.conditions import StoreCondition, is_store_full
from engine.errors import StoreError
from engine.formats.hl7v2 import read_header
from engine.message import HL7V2
from engine.store.sqlite import SqliteStore
from tests.engine.test_engine import adt, make_engine


def wrapped(cause: BaseException) -> StoreError:
    try:
        raise StoreError("store commit failed") from cause
    except StoreError as exc:
        return exc


def test_full_is_recognised_through_the_cause_chain_only_for_lack_of_space() -> None:
    assert is_store_full(wrapped(sqlite3.OperationalError("database or disk is full")))
    assert is_store_full(wrapped(OSError(errno.ENOSPC, "No space left on device")))
    assert not is_store_full(wrapped(sqlite3.OperationalError("database is locked")))
    assert not is_store_full(wrapped(OSError(errno.EACCES, "Permission denied")))
    assert not is_store_full(StoreError("no message X"))


def test_one_alert_per_episode_and_counters() -> None:
    events: list[tuple[str, Mapping[str, object]]] = []
    condition = StoreCondition(clock=iter([10.0, 25.0]).__next__)
    condition.hooks.append(lambda event, details: events.append((event, details)))
    condition.ok()  # nothing to resolve
    for _ in range(3):
        condition.failed(wrapped(OSError(errno.ENOSPC, "No space left on device")))
    condition.failed(StoreError("database is locked"))  # not a full store: not counted
    assert condition.full and condition.metrics() == {
        "store_full": 1,
        "store_full_episodes_total": 1,
        "store_full_refused_total": 3,
    }
    condition.ok()
    condition.ok()
    assert [e for e, _ in events] == ["store.full", "store.full.resolved"]
    assert events[1][1] == {"refused": 3, "seconds": 15.0}
    assert not condition.full and condition.metrics()["store_full"] == 0


async def test_engine_intake_under_a_full_store_then_recovery(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, lambda: SqliteStore(tmp_path / "store.db"))
    events: list[str] = []
    engine.store_condition.hooks.append(lambda event, _: events.append(event))
    await engine.start()
    try:
        store = engine.store
        assert isinstance(store, SqliteStore)
        pages = await store._writer.run(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
        await store._writer.run(lambda c: c.execute(f"PRAGMA max_page_count = {pages + 2}"))
        raw = adt("C0") + b"NTE|1||" + b"x" * 20_000 + b"\r"
        with pytest.raises(StoreError):
            for _ in range(10):
                await engine.accept("in", raw, HL7V2, read_header(raw).metadata())
        with pytest.raises(StoreError):
            await engine.accept("in", raw, HL7V2, read_header(raw).metadata())
        assert engine.store_condition.full and events == ["store.full"]
        assert engine.store_condition.metrics()["store_full_refused_total"] == 2
        await store._writer.run(lambda c: c.execute("PRAGMA max_page_count = 1073741823"))
        await engine.accept("in", raw, HL7V2, read_header(raw).metadata())
        assert not engine.store_condition.full and events == ["store.full", "store.full.resolved"]
    finally:
        await engine.stop()
