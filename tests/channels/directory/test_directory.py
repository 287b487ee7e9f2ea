"""The ``directory`` source: commit then move; refusals go to error/ with a reason file."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from channels.directory.config import DirectorySourceConfig
from channels.directory.source import DirectorySource
from engine.app import Engine
from engine.message import MessageState
from engine.router import CompiledRoute, Router
from engine.store.base import MessageQuery
from engine.store.sqlite import SqliteStore
from tests.channels.mllp.support import RecordingIntake
from tests.engine.formats.cda.builders import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    TEST_INS,
    cda,
)

Start = Callable[..., Awaitable[DirectorySource]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """``await start(intake, **config)``: a directory source on tmp_path/in that does not
    poll on its own (first scan after an hour): tests call ``scan()``."""
    started: list[DirectorySource] = []

    async def make(intake: Any, **config: Any) -> DirectorySource:
        cfg = DirectorySourceConfig.model_validate(
            {"directory": str(tmp_path / "in"), "poll_interval": "1h", "min_age": "0s", **config}
        )
        source = DirectorySource("cda_in", cfg)
        await source.start(intake)
        started.append(source)
        return source

    yield make
    for source in started:
        await source.stop()


def drop(directory: Path, name: str, content: bytes, age: float = 10.0) -> Path:
    path = directory / name
    path.write_bytes(content)
    past = time.time() - age
    os.utime(path, (past, past))
    return path


async def test_a_cda_is_committed_then_moved(start: Start, tmp_path: Path) -> None:
    intake = RecordingIntake()
    source = await start(intake)
    drop(tmp_path / "in", "report.xml", cda())
    assert await source.scan() == 1
    (envelope,) = intake.accepted
    assert envelope.raw == cda() and envelope.content_type == "application/cda+xml"
    assert envelope.metadata["file.name"] == "report.xml"
    assert envelope.metadata["cda.type_code"] == "11502-2"
    assert TEST_INS not in "".join(envelope.metadata.values())
    assert (tmp_path / "in" / "processed" / "report.xml").read_bytes() == cda()
    assert not (tmp_path / "in" / "report.xml").exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (BILLION_LAUGHS, "document declares a DTD"),
        (EXTERNAL_ENTITY, "document declares a DTD"),
        (b"<ClinicalDocument", "not well-formed XML"),
        (b"<html/>", "is not a CDA R2 ClinicalDocument"),
        (b"x" * 5000, "exceeds the limit of 4096 bytes"),
    ],
    ids=["billion-laughs", "external-entity", "malformed", "not-cda", "oversize"],
)
async def test_refused_files_go_to_error_with_a_reason(
    start: Start, tmp_path: Path, content: bytes, reason: str
) -> None:
    intake = RecordingIntake()
    source = await start(intake, max_size="4KiB")
    drop(tmp_path / "in", "bad.xml", content)
    drop(tmp_path / "in", "good.xml", cda(), age=5.0)
    assert await source.scan() == 2
    assert [e.metadata["file.name"] for e in intake.accepted] == ["good.xml"]
    ((refused, recorded_reason),) = intake.rejected
    assert reason in recorded_reason and len(refused.raw) <= 64 * 1024
    note = (tmp_path / "in" / "error" / "bad.xml.reason.txt").read_text()
    assert reason in note and refused.id in note
    assert (tmp_path / "in" / "error" / "bad.xml").exists()


async def test_store_failure_leaves_the_file_for_the_next_scan(
    start: Start, tmp_path: Path
) -> None:
    intake = RecordingIntake(fail_accept=True)
    source = await start(intake)
    drop(tmp_path / "in", "report.xml", cda())
    assert await source.scan() == 0
    assert (tmp_path / "in" / "report.xml").exists()
    intake.fail_accept = False
    assert await source.scan() == 1 and len(intake.accepted) == 1


async def test_young_hidden_and_unmatched_files_wait(start: Start, tmp_path: Path) -> None:
    intake = RecordingIntake()
    source = await start(intake, min_age="60s")
    drop(tmp_path / "in", "young.xml", cda(), age=0)
    drop(tmp_path / "in", ".hidden.xml", cda())
    drop(tmp_path / "in", "notes.txt", b"hello")
    drop(tmp_path / "in", "old.xml", cda(), age=120)
    assert await source.scan() == 1
    assert [e.metadata["file.name"] for e in intake.accepted] == ["old.xml"]


async def test_a_name_already_processed_is_kept_apart(start: Start, tmp_path: Path) -> None:
    intake = RecordingIntake()
    source = await start(intake)
    for _ in range(2):
        drop(tmp_path / "in", "same.xml", cda())
        await source.scan()
    names = sorted(p.name for p in (tmp_path / "in" / "processed").iterdir())
    assert names[0] == "same.xml" and names[1] == f"same.xml.{intake.accepted[1].id}"


async def test_the_engine_polls_and_records_refusals(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    config = DirectorySourceConfig.model_validate(
        {"directory": str(tmp_path / "in"), "poll_interval": "20ms", "min_age": "0s"}
    )
    engine = Engine(
        store=store,
        router=Router([CompiledRoute("drop_all", None, (), (), drop=True)]),
        sources=[DirectorySource("cda_in", config)],
        shutdown_grace=0.5,
    )
    await engine.start()
    try:
        drop(tmp_path / "in", "attack.xml", BILLION_LAUGHS)
        drop(tmp_path / "in", "report.xml", cda())
        while (
            len(list((tmp_path / "in" / "processed").iterdir())) < 1
            or not (tmp_path / "in" / "error" / "attack.xml").exists()
        ):
            await asyncio.sleep(0.02)
        rejected = await store.list_messages(MessageQuery(state=MessageState.REJECTED))
        assert [m.envelope.metadata["file.name"] for m in rejected] == ["attack.xml"]
        assert "possible XML attack" in rejected[0].reason
    finally:
        await engine.stop()
