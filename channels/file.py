"""File destination: one file per delivered message, written atomically.

The file is written to a temporary name in the target directory (``.passerelle-*.tmp``:
consumers of the directory must ignore dot files), flushed and fsynced, then renamed over
the final name (``os.replace`` is atomic on POSIX) and the directory is fsynced. Temporary
files left by a crash are removed when the destination opens.

The name comes from the message's business key, so a redelivery (after a crash, or a
sender resending the same MSH-10) overwrites the same file instead of adding one.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
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
        description="fsync the file and its directory before reporting the delivery as sent.",
    )

    def model_post_init(self, __context: object) -> None:
        unknown = set(_PLACEHOLDER.findall(self.filename)) - set(PLACEHOLDERS)
        if unknown:
            raise ValueError(f"unknown placeholder(s) in filename: {sorted(unknown)}")


@destination("file", config=FileDestinationConfig)
class FileDestination(Destination[FileDestinationConfig]):
    """Writes each payload to its own file in a directory, atomically."""

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
        try:
            await asyncio.to_thread(self._write, target, payload.body)
        except OSError as exc:
            raise RetryableDeliveryError(f"writing {target}: {exc.strerror or exc}") from exc
        return str(target)

    def _write(self, target: Path, body: bytes) -> None:
        directory = target.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX, dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
                if self.config.fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if self.config.fsync:
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


__all__ = ["FileDestination", "FileDestinationConfig"]
