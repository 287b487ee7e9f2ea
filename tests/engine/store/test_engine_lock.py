"""One engine per store: SQLite per file, PostgreSQL per node name (every backend)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engine.errors import StoreLocked
from engine.message import HL7V2, Envelope, MessageState
from engine.store.sqlite import SqliteStore
from tests.engine.store.conftest import StoreFactory, reopened


async def test_a_second_engine_is_refused_naming_the_first_until_it_closes(
    store_factory: StoreFactory,
) -> None:
    first = store_factory()
    await first.lock_engine("node-a")
    await first.open()
    second = reopened(first)
    with pytest.raises(StoreLocked) as refused:
        await second.lock_engine("node-a")
    assert f"pid {os.getpid()}" in str(refused.value)
    assert "node-a" in str(refused.value)
    # tools (the CLI, this engine's workers) open the store without the lock
    tool = reopened(first)
    await tool.open()
    env = Envelope.new(channel="in", raw=b"MSH|x", content_type=HL7V2)
    await first.accept(env)
    assert (await tool.get_message(env.id)).state is MessageState.RECEIVED
    await tool.close()
    await first.close()
    await second.lock_engine("node-a")  # released with the first engine
    await second.close()


async def test_sqlite_store_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        store = SqliteStore(tmp_path / "var" / "store" / "store.db")
        await store.lock_engine("n")
        await store.open()
        await store.accept(Envelope.new(channel="in", raw=b"MSH|x", content_type=HL7V2))
        await store.close()
    finally:
        os.umask(previous)
    created = [p for p in (tmp_path / "var").rglob("*")] + [tmp_path / "var"]
    assert {p.name for p in created} >= {"store.db", "store.db.lock", "store", "var"}
    for path in created:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"


async def test_an_existing_world_readable_store_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = SqliteStore(path)
    await store.open()
    await store.close()
    for suffix in ("", "-wal", "-shm"):
        file = path.with_name(path.name + suffix)
        if file.exists():
            file.chmod(0o644)
    store = SqliteStore(path)
    await store.open()
    await store.accept(Envelope.new(channel="in", raw=b"MSH|x", content_type=HL7V2))
    for file in tmp_path.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    await store.close()
