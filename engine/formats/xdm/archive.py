"""Reading ZIP archives received from outside, with safety limits, and writing them back.

Contract of :func:`read_archive`: nothing is written to disk; every entry is read into
memory through a capped stream, so a lying header (a "zip bomb") cannot make it read more
than the limits allow. The archive is refused whole (:class:`XdmError`) when it is too big,
not a ZIP, encrypted, holds too many entries, an entry or the total is too large, an entry
or the whole archive expands more than ``max_ratio`` times, or an entry name is unsafe:
absolute, with ``..``, a drive letter, a NUL, a symbolic link, or a duplicate of another
name (case-insensitive).

Decompression budget: before inflating anything, the sizes the central directory declares
are checked -- each entry against ``max_entry_size``, their sum against ``max_total_size``,
and the ratio of their sum to the compressed sizes against ``max_ratio`` (many entries that
each stay under the per-entry ratio floor, such as 210 entries of 1 MiB of zeros, are
refused here). A declared size is a true bound: ``zipfile`` never inflates an entry past
its declared size (a shorter stream fails the CRC check). While inflating, the running
total is checked again against the budget and the cumulative ratio.
:func:`count_inflated` meters the bytes actually inflated (for tests).
Backslashes are read as separators and UTF-8 names written without the UTF-8 flag are
decoded as UTF-8 (two quirks of archives made on Windows).

:func:`write_archive` produces the same bytes for the same entries (fixed timestamps).
"""

from __future__ import annotations

import contextlib
import io
import stat
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from engine.errors import MessageError

_CHUNK = 64 * 1024
_FIXED_TIME = (2000, 1, 1, 0, 0, 0)
RATIO_FLOOR = 1024 * 1024
"""Expansion ratios are checked once at least this much is (or would be) inflated."""


@dataclass(slots=True)
class InflateCounter:
    """Bytes inflated while :func:`count_inflated` was active."""

    inflated: int = 0


_counter: InflateCounter | None = None


@contextlib.contextmanager
def count_inflated() -> Iterator[InflateCounter]:
    """Meter the bytes :func:`read_archive` inflates in this block (a test instrument)."""
    global _counter
    previous, _counter = _counter, InflateCounter()
    try:
        yield _counter
    finally:
        _counter = previous


class XdmError(MessageError):
    """An XDM archive (or its metadata) is unusable. ``kind`` says why: ``oversize``,
    ``bomb``, ``unsafe-path``, ``not-zip``, ``encrypted``, ``structure``, ``metadata``,
    ``integrity``. The message never quotes document content."""

    def __init__(self, message: str, *, kind: str = "structure") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """Safety limits applied while reading an archive."""

    max_archive_size: int = 50 * 1024 * 1024
    max_entries: int = 500
    max_entry_size: int = 50 * 1024 * 1024
    max_total_size: int = 200 * 1024 * 1024
    max_ratio: int = 200
    """Largest uncompressed/compressed ratio of an entry, and of the whole archive, once
    over 1 MiB (text compresses ~10x)."""


def _decode_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:  # no UTF-8 flag: zipfile decoded it as cp437
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            name = name.encode("cp437").decode("utf-8")
    return name


def safe_name(raw_name: str) -> str:
    """The normalised ``a/b/c`` form of an entry name, or XdmError(kind="unsafe-path").

    Refused: empty names, NUL or control characters, absolute paths, drive letters,
    ``..`` segments. Backslashes count as separators; ``.`` and empty segments vanish.
    """
    if not raw_name or any(ord(ch) < 32 for ch in raw_name):
        raise XdmError("an entry name is empty or has control characters", kind="unsafe-path")
    name = raw_name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise XdmError("an entry name is an absolute path", kind="unsafe-path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise XdmError("an entry name climbs out of the archive ('..')", kind="unsafe-path")
    if not parts:
        raise XdmError("an entry name has no file part", kind="unsafe-path")
    return "/".join(parts)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _check_declared(infos: list[zipfile.ZipInfo], lim: ZipLimits) -> None:
    """Refuse, before inflating anything, what the central directory already gives away."""
    files = [i for i in infos if not i.is_dir()]
    for info in files:
        if info.file_size > lim.max_entry_size:
            raise XdmError("an entry declares more than the entry size limit", kind="bomb")
        if info.file_size > RATIO_FLOOR and info.file_size > lim.max_ratio * max(
            info.compress_size, 1
        ):
            raise XdmError(
                f"an entry expands more than {lim.max_ratio} times (zip bomb)", kind="bomb"
            )
    declared = sum(i.file_size for i in files)
    if declared > lim.max_total_size:
        raise XdmError(
            f"the entries declare more than the archive budget of {lim.max_total_size} bytes",
            kind="bomb",
        )
    compressed = max(sum(i.compress_size for i in files), 1)
    if declared > RATIO_FLOOR and declared > lim.max_ratio * compressed:
        raise XdmError(
            f"the archive expands more than {lim.max_ratio} times in all (zip bomb)", kind="bomb"
        )


@dataclass(slots=True)
class _Budget:
    """What the archive has inflated so far, against its limits."""

    lim: ZipLimits
    inflated: int = 0
    compressed: int = 0

    def add(self, size: int) -> None:
        self.inflated += size
        if _counter is not None:
            _counter.inflated += size
        if self.inflated > self.lim.max_total_size:
            raise XdmError("the archive total expands beyond its size limit", kind="bomb")
        if self.inflated > RATIO_FLOOR and self.inflated > self.lim.max_ratio * max(
            self.compressed, 1
        ):
            raise XdmError(
                f"the archive expands more than {self.lim.max_ratio} times in all (zip bomb)",
                kind="bomb",
            )


def _read_entry(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget, lim: ZipLimits
) -> bytes:
    out = bytearray()
    budget.compressed += info.compress_size
    with archive.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            out += chunk
            budget.add(len(chunk))
            if len(out) > lim.max_entry_size:
                raise XdmError("the entry expands beyond its size limit", kind="bomb")
            compressed = max(info.compress_size, 1)
            if len(out) > RATIO_FLOOR and len(out) / compressed > lim.max_ratio:
                raise XdmError(
                    f"an entry expands more than {lim.max_ratio} times (zip bomb)", kind="bomb"
                )
    return bytes(out)


def read_archive(data: bytes, limits: ZipLimits | None = None) -> dict[str, bytes]:
    """Every file of the archive: normalised name → bytes (directories are skipped).

    Raises:
        XdmError: see the module docstring.
    """
    lim = limits or ZipLimits()
    if len(data) > lim.max_archive_size:
        raise XdmError(
            f"archive of {len(data)} bytes exceeds the limit of {lim.max_archive_size}",
            kind="oversize",
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > lim.max_entries:
                raise XdmError(
                    f"archive has {len(infos)} entries, more than {lim.max_entries}",
                    kind="bomb",
                )
            _check_declared(infos, lim)
            files: dict[str, bytes] = {}
            seen: set[str] = set()
            budget = _Budget(lim)
            for info in infos:
                name = safe_name(_decode_name(info))
                if _is_symlink(info):
                    raise XdmError("an entry is a symbolic link", kind="unsafe-path")
                if info.is_dir():
                    continue
                if info.flag_bits & 0x1:
                    raise XdmError("an entry is encrypted", kind="encrypted")
                if name.casefold() in seen:
                    raise XdmError("two entries have the same name", kind="unsafe-path")
                seen.add(name.casefold())
                files[name] = _read_entry(archive, info, budget, lim)
            return files
    except XdmError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise XdmError(f"not a readable ZIP archive: {exc}", kind="not-zip") from exc
    except (zlib.error, NotImplementedError, RuntimeError, ValueError, OSError) as exc:
        raise XdmError(f"a ZIP entry cannot be read: {type(exc).__name__}", kind="not-zip") from exc


def lookup(files: Mapping[str, bytes], name: str) -> tuple[str, bytes] | None:
    """``(actual name, bytes)`` of ``name`` matched case-insensitively, or None."""
    if name in files:
        return name, files[name]
    folded = name.casefold()
    for candidate, content in files.items():
        if candidate.casefold() == folded:
            return candidate, content
    return None


def write_archive(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """A deflated ZIP of ``(name, bytes)`` in the given order, byte-identical for the same
    input (fixed timestamps, UTF-8 names).

    Raises:
        XdmError: a name is unsafe (see :func:`safe_name`) or repeated.
    """
    buffer = io.BytesIO()
    seen: set[str] = set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            clean = safe_name(name)
            if clean.casefold() in seen:
                raise XdmError("two entries have the same name", kind="unsafe-path")
            seen.add(clean.casefold())
            info = zipfile.ZipInfo(clean, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return buffer.getvalue()


__all__ = [
    "RATIO_FLOOR",
    "InflateCounter",
    "XdmError",
    "ZipLimits",
    "count_inflated",
    "lookup",
    "read_archive",
    "safe_name",
    "write_archive",
]
