"""The file destination: atomic files, group-synced directory, per-file failures."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import channels.file as file_module
from channels.file import FileDestination, FileDestinationConfig
from engine.components import DeliveryContext, Payload
from engine.errors import RetryableDeliveryError
from engine.message import HL7V2


def context(key: str) -> DeliveryContext:
    return DeliveryContext(f"d-{key}", f"m-{key}", "out", 1, key)


class SyncLog:
    """Calls the real directory fsync and notes which files it made durable, and when."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, frozenset[str]]] = []
        real = file_module._fsync_directory

        def spy(directory: Path) -> None:
            names = frozenset(os.listdir(directory))
            real(directory)
            self.events.append(("fsync", names))

        monkeypatch.setattr(file_module, "_fsync_directory", spy)

    def returned(self, name: str) -> None:
        self.events.append(("sent", frozenset({name})))

    @property
    def fsyncs(self) -> int:
        return sum(1 for kind, _ in self.events if kind == "fsync")

    def durable_before_sent(self, name: str) -> bool:
        """True when a directory fsync that saw the file ended before its send returned."""
        for kind, names in self.events:
            if kind == "sent" and name in names:
                return False
            if kind == "fsync" and name in names:
                return True
        return False


async def test_concurrent_deliveries_share_directory_fsyncs_and_return_only_once_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = SyncLog(monkeypatch)
    dest = FileDestination("out", FileDestinationConfig(directory=tmp_path / "out"))
    await dest.open()

    async def send(i: int) -> None:
        detail = await dest.send(Payload(b"MSH|%d" % i, HL7V2), context(f"K{i:03d}"))
        syncs.returned(Path(detail).name)

    # When 64 deliveries arrive together
    await asyncio.gather(*(send(i) for i in range(64)))
    await dest.close()
    # Then every file is there with its bytes, and no temporary file is left
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == [f"K{i:03d}.hl7" for i in range(64)]
    assert all((out / f"K{i:03d}.hl7").read_bytes() == b"MSH|%d" % i for i in range(64))
    # And far fewer directory fsyncs than files were needed ...
    assert 1 <= syncs.fsyncs < 64
    # ... yet each delivery returned only after a directory fsync that covered its file
    assert all(syncs.durable_before_sent(f"K{i:03d}.hl7") for i in range(64))


async def test_one_delivery_at_a_time_is_synced_before_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = SyncLog(monkeypatch)
    dest = FileDestination("out", FileDestinationConfig(directory=tmp_path / "out"))
    await dest.open()
    for i in range(3):
        detail = await dest.send(Payload(b"x", HL7V2), context(f"S{i}"))
        syncs.returned(Path(detail).name)
    assert syncs.fsyncs == 3 and all(syncs.durable_before_sent(f"S{i}.hl7") for i in range(3))


async def test_a_file_that_cannot_be_written_fails_only_its_own_delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = SyncLog(monkeypatch)
    out = tmp_path / "out"
    dest = FileDestination("out", FileDestinationConfig(directory=out))
    await dest.open()
    (out / "BAD.hl7").mkdir()  # a directory where the file should go: the rename fails

    results = await asyncio.gather(
        *(dest.send(Payload(b"x", HL7V2), context(k)) for k in ("A", "BAD", "B")),
        return_exceptions=True,
    )
    assert results[0] == str(out / "A.hl7") and results[2] == str(out / "B.hl7")
    assert isinstance(results[1], RetryableDeliveryError) and "BAD.hl7" in str(results[1])
    assert sorted(os.listdir(out)) == ["A.hl7", "B.hl7", "BAD.hl7"]  # no temporary left
    assert syncs.fsyncs >= 1


async def test_a_redelivery_overwrites_and_fsync_off_skips_the_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = SyncLog(monkeypatch)
    dest = FileDestination("out", FileDestinationConfig(directory=tmp_path, fsync=False))
    await dest.open()
    await asyncio.gather(*(dest.send(Payload(b"v%d" % i, HL7V2), context("K")) for i in (1, 2)))
    await dest.send(Payload(b"v3", HL7V2), context("K"))
    assert os.listdir(tmp_path) == ["K.hl7"] and (tmp_path / "K.hl7").read_bytes() == b"v3"
    assert syncs.fsyncs == 0
