"""File destination: one file per delivered message, written atomically and durably.

Each file is written to a temporary name in the target directory (``.passerelle-*.tmp``:
consumers of the directory must ignore dot files), its data synced (``fdatasync``), then
renamed over the final name (``os.replace`` is atomic on POSIX); the directory is fsynced
so the rename survives a power cut. Temporary files left by a crash are removed when the
destination opens.

Batching (group commit): concurrent deliveries are written together by one flusher. A
batch writes every file, syncs their data, renames them all and fsyncs the directory
once; only then does each delivery return (``sent``). While a batch is on disk the next
one gathers, so at one delivery at a time nothing waits, and under load one directory
fsync serves many files. A file that cannot be written fails only its own delivery
(retryable); a failed directory fsync fails the whole batch.

The name comes from the message's business key, so a redelivery (after a crash, or a
sender resending the same MSH-10) overwrites the same file instead of adding one.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from engine.components import ComponentConfig, DeliveryContext, Destination, Payload
from engine.errors import ChannelError, PermanentDeliveryError, RetryableDeliveryError
from engine.registry import destination

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSIONS = {
    "application/hl7-v2": ".hl7",
    "application/xml": ".xml",
    "text/xml": ".xml",
    "application/fhir+json": ".json",
    "application/json": ".json",
}
_TMP_PREFIX, _TMP_SUFFIX = ".passerelle-", ".tmp"
MAX_BATCH = 256
"""Files written per directory fsync at most."""
PLACEHOLDERS = ("key", "message_id", "delivery_id", "ext", "message_type", "trigger_event")


class FileDestinationConfig(ComponentConfig):
    directory: Path = Field(
        description="Directory the files are written to (created if missing).",
        examples=["./var/out"],
    )
    filename: str = Field(
        default="{key}{ext}",
        description=(
            "File name template. Placeholders: {key} (business key: sending application, "
            "facility and MSH-10 for HL7v2, else the message id), {message_id}, {delivery_id}, "
            "{ext} (from the content type), {message_type}, {trigger_event}. Names built from "
            "{key} make redeliveries overwrite rather than duplicate."
        ),
        examples=["{key}{ext}", "{message_type}_{trigger_event}_{key}.hl7"],
    )
    fsync: bool = Field(
        default=True,
        description=(
            "Sync each file's data and its directory before reporting the delivery as sent "
            "(one directory fsync per batch of concurrent deliveries)."
        ),
    )

    def model_post_init(self, __context: object) -> None:
        unknown = set(_PLACEHOLDER.findall(self.filename)) - set(PLACEHOLDERS)
        if unknown:
            raise ValueError(f"unknown placeholder(s) in filename: {sorted(unknown)}")


@destination("file", config=FileDestinationConfig)
class FileDestination(Destination[FileDestinationConfig]):
    """Writes each payload to its own file in a directory, atomically."""

    def __init__(self, name: str, config: FileDestinationConfig) -> None:
        super().__init__(name, config)
        self._queued: list[_Write] = []
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Create the directory and remove temporary files a crashed run left behind."""
        try:
            self.config.directory.mkdir(parents=True, exist_ok=True)
            for stale in self.config.directory.glob(f"{_TMP_PREFIX}*{_TMP_SUFFIX}"):
                stale.unlink(missing_ok=True)
        except OSError as exc:
            raise ChannelError(f"file destination '{self.name}': {exc}") from exc

    def filename_for(self, payload: Payload, context: DeliveryContext) -> str:
        values = {
            "key": context.dedupe_key,
            "message_id": context.message_id,
            "delivery_id": context.delivery_id,
            "ext": _EXTENSIONS.get(payload.content_type, ".bin"),
            "message_type": payload.metadata.get("hl7.message_type", ""),
            "trigger_event": payload.metadata.get("hl7.trigger_event", ""),
        }
        name = _PLACEHOLDER.sub(
            lambda m: _UNSAFE.sub("-", values[m.group(1)]), self.config.filename
        )
        if not name.strip(".") or "/" in name:
            raise PermanentDeliveryError(f"file name template produced an unusable name {name!r}")
        return name

    async def send(self, payload: Payload, context: DeliveryContext) -> str:
        name = self.filename_for(payload, context)
        target = self.config.directory / name
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append(_Write(target, payload.body, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name=f"file-{self.name}")
        try:
            await asyncio.shield(done)  # a cancelled send leaves the batch to finish
        except OSError as exc:
            raise RetryableDeliveryError(f"writing {target}: {exc.strerror or exc}") from exc
        return str(target)

    async def close(self) -> None:
        """Wait for the batch on disk, if any."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _flush(self) -> None:
        while self._queued:
            batch, self._queued = self._queued[:MAX_BATCH], self._queued[MAX_BATCH:]
            try:
                errors = await asyncio.to_thread(self._write_batch, batch)
            except asyncio.CancelledError:
                stopped = OSError("the file destination stopped before the write finished")
                self._settle([*batch, *self._queued], [stopped] * (len(batch) + len(self._queued)))
                self._queued = []
                raise
            self._settle(batch, errors)

    @staticmethod
    def _settle(batch: list[_Write], errors: list[OSError | None]) -> None:
        for write, error in zip(batch, errors, strict=True):
            if write.done.done():
                continue
            if error is None:
                write.done.set_result(None)
            else:
                write.done.set_exception(error)
                write.done.add_done_callback(_retrieved)  # its sender may have gone

    def _write_batch(self, batch: list[_Write]) -> list[OSError | None]:
        """Write, sync, rename every file, then fsync the directory once (in a thread)."""
        sync = self.config.fsync
        errors: list[OSError | None] = [None] * len(batch)
        staged: list[tuple[int, str]] = []
        for i, write in enumerate(batch):
            try:
                staged.append((i, _stage(write.target, write.body, sync)))
            except OSError as exc:
                errors[i] = exc
        for i, tmp in staged:
            try:
                os.replace(tmp, batch[i].target)
            except OSError as exc:
                Path(tmp).unlink(missing_ok=True)
                errors[i] = exc
        if sync and any(e is None for e in errors):
            try:
                _fsync_directory(self.config.directory)
            except OSError as exc:
                errors = [e or exc for e in errors]
        return errors


@dataclass(frozen=True, slots=True)
class _Write:
    target: Path
    body: bytes
    done: asyncio.Future[None]


def _stage(target: Path, body: bytes, sync: bool) -> str:
    """Write ``body`` to a temporary file beside ``target`` (data synced when ``sync``)."""
    directory = target.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            if sync:
                handle.flush()
                _datasync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _retrieved(future: asyncio.Future[None]) -> None:
    future.exception()


def _fsync_directory(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


_datasync = getattr(os, "fdatasync", os.fsync)
"""Data and the size needed to read it back; the rename and directory fsync do the rest."""


__all__ = ["FileDestination", "FileDestinationConfig"]
