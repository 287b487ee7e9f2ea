"""The ``directory`` source: a polled file drop (CDA documents by default).

Per file, oldest first, once it has not changed for ``min_age``:

1. files over ``max_size`` are refused unread (only their first 64 KiB are recorded);
2. the content is examined (:func:`engine.formats.cda.intake.examine`): XML attacks,
   malformed XML, non-CDA documents are refused;
3. accepted: committed through :meth:`Intake.accept`, then moved to ``processed/`` -- the
   move is the acknowledgement. If the commit fails the file stays and is retried;
4. refused: recorded through :meth:`Intake.reject` (state ``rejected`` with the reason),
   moved to ``error/`` with ``<file>.reason.txt`` beside it.

A crash between the commit and the move re-reads the file at the next start
(at-least-once; the DMP absorbs a resubmitted document by its uniqueId). One file's problem
never stops the others; a processed name already taken gets the message id appended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path

from channels.directory.config import DirectorySourceConfig
from engine.components import Intake, Source
from engine.errors import ChannelError, DocumentError
from engine.formats.cda.intake import examine
from engine.registry import source

log = logging.getLogger(__name__)
HEAD_BYTES = 64 * 1024


def _free_name(directory: Path, name: str, suffix: str) -> Path:
    target = directory / name
    return target if not target.exists() else directory / f"{name}.{suffix}"


@source("directory", config=DirectorySourceConfig)
class DirectorySource(Source[DirectorySourceConfig]):
    """Takes files dropped in a directory; moves each one after its commit (or refusal)."""

    def __init__(self, name: str, config: DirectorySourceConfig) -> None:
        super().__init__(name, config)
        self._intake: Intake | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._scanning = asyncio.Lock()

    def describe(self) -> str:
        return f"dir://{self.config.directory}/{self.config.pattern}"

    async def start(self, intake: Intake) -> None:
        """Create the directories and start polling. Raises ChannelError."""
        cfg = self.config
        try:
            for directory in (cfg.directory, cfg.processed, cfg.errors):
                directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ChannelError(f"directory source '{self.name}': {exc}") from exc
        self._intake = intake
        self._task = asyncio.create_task(self._poll(), name=f"directory-{self.name}")

    async def stop(self) -> None:
        """Finish the file in progress (commit and move), then stop. Idempotent."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _poll(self) -> None:
        """Scan every ``poll_interval`` (the first scan one interval after the start)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.config.poll_interval)
            if self._stopping.is_set():
                return
            try:
                await self.scan()
            except Exception:  # a bug must not stop the channel: log, keep polling
                log.exception("Directory scan failed.", extra={"channel": self.name})

    def _ready(self) -> list[Path]:
        cfg, now = self.config, time.time()
        found: list[tuple[float, Path]] = []
        for path in cfg.directory.glob(cfg.pattern):
            try:
                stat = path.stat()
            except OSError:
                continue
            if path.name.startswith(".") or not path.is_file():
                continue
            if now - stat.st_mtime >= cfg.min_age:
                found.append((stat.st_mtime, path))
        return [p for _, p in sorted(found)[: cfg.batch]]

    async def scan(self) -> int:
        """Take every ready file once; return how many were handled (tests call it)."""
        handled = 0
        async with self._scanning:  # one scan at a time: a file is taken once
            for path in await asyncio.to_thread(self._ready):
                if self._stopping.is_set():
                    break
                if await self._take(path):
                    handled += 1
        return handled

    async def _take(self, path: Path) -> bool:
        assert self._intake is not None
        cfg = self.config
        extra = {"channel": self.name}  # file names may name patients: not logged
        try:
            size = path.stat().st_size
            raw = await asyncio.to_thread(self._read, path, size)
        except OSError as exc:
            log.warning("File could not be read: %s.", exc.strerror or exc, extra=extra)
            return False
        metadata = {"file.name": path.name, "file.size": str(size)}
        try:
            if size > cfg.max_size:
                raise DocumentError(
                    f"file of {size} bytes exceeds the limit of {cfg.max_size} bytes",
                    kind="oversize",
                )
            facts = examine(raw, format=cfg.format, max_bytes=cfg.max_size, schema=cfg.schema_file)
        except DocumentError as exc:
            await self._refuse(path, raw, metadata, str(exc), extra)
            return True
        try:
            envelope = await self._intake.accept(
                self.name, raw, cfg.content_type, {**metadata, **facts}
            )
        except Exception as exc:  # StoreError by contract: leave the file, retry later
            log.error("File could not be stored: %s; it stays.", type(exc).__name__, extra=extra)
            return False
        await asyncio.to_thread(self._move, path, cfg.processed, envelope.id)
        log.info("File committed.", extra={**extra, "message_id": envelope.id})
        return True

    def _read(self, path: Path, size: int) -> bytes:
        with path.open("rb") as handle:
            return handle.read(HEAD_BYTES if size > self.config.max_size else size + 1)

    async def _refuse(
        self, path: Path, raw: bytes, metadata: dict[str, str], reason: str, extra: dict[str, str]
    ) -> None:
        assert self._intake is not None
        message_id = ""
        try:
            envelope = await self._intake.reject(
                self.name, raw[:HEAD_BYTES], self.config.content_type, metadata, reason
            )
            message_id = envelope.id
        except Exception as exc:
            log.error("Refusal could not be recorded: %s.", type(exc).__name__, extra=extra)
        await asyncio.to_thread(self._move_refused, path, reason, message_id)
        log.warning("File refused: %s.", reason.rstrip("."), extra=extra)

    def _move(self, path: Path, directory: Path, suffix: str) -> Path:
        target = _free_name(directory, path.name, suffix or str(time.time_ns()))
        os.replace(path, target)
        return target

    def _move_refused(self, path: Path, reason: str, message_id: str) -> None:
        target = _free_name(self.config.errors, path.name, message_id or str(time.time_ns()))
        note = target.with_name(target.name + ".reason.txt")
        text = f"{reason}\n" + (f"message id: {message_id}\n" if message_id else "")
        note.write_text(text, encoding="utf-8")
        os.replace(path, target)


__all__ = ["HEAD_BYTES", "DirectorySource"]
