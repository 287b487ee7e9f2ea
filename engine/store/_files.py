"""Store files on disk: private modes, and the one-engine lock of a SQLite store.

The store holds patient data, so its files are readable by their owner only: new
directories 0700, files 0600 whatever the process umask (``passerelle run`` also sets
umask 077 before it creates anything). Files an earlier version created with wider
modes are narrowed when the store opens.

:class:`EngineLock` is an exclusive ``flock`` on ``<store>.lock`` held for the engine's
lifetime. The kernel drops it when the process dies (even on SIGKILL), so a crash never
leaves a stale lock; the file itself stays and says who held it last.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path

from engine.errors import StoreError, StoreLocked

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_directory(path: Path) -> None:
    """Create ``path`` and its missing parents with mode 0700.

    Raises:
        StoreError: it cannot be created.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        for directory in reversed(missing):
            directory.mkdir(mode=PRIVATE_DIR, exist_ok=True)
            os.chmod(directory, PRIVATE_DIR)  # mkdir's mode is filtered by the umask
    except OSError as exc:
        raise StoreError(f"creating the store directory {path}: {exc}") from exc


def private_files(*paths: Path, create: bool = True) -> None:
    """Narrow the files to 0600; with ``create``, first create the missing ones (empty).

    Raises:
        StoreError: a file cannot be created or its mode changed.
    """
    for path in paths:
        if not create and not path.exists():
            continue
        try:
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE)
            try:
                if os.fstat(fd).st_mode & 0o777 != PRIVATE_FILE:
                    os.fchmod(fd, PRIVATE_FILE)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreError(f"protecting the store file {path}: {exc}") from exc


def holder_text(node: str) -> str:
    """Who this process is, as written in a lock and shown to the next one."""
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return f"pid {os.getpid()} on {socket.gethostname()} (node {node}, since {started})"


class EngineLock:
    """The exclusive lock of one SQLite store: ``<store file>.lock``."""

    def __init__(self, store_path: Path) -> None:
        self.path = store_path.with_name(store_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self, node: str) -> None:
        """Take the lock or raise :class:`StoreLocked` naming the process that has it."""
        if self._fd is not None:
            return
        private_directory(self.path.parent)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        except OSError as exc:
            raise StoreError(f"opening the store lock {self.path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreLocked(
                f"another engine is running on the store {self.path.with_suffix('')}: {holder}."
                " Stop it first, or give this engine its own store (store.path)."
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"locking the store {self.path}: {exc}") from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, (holder_text(node) + "\n").encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


__all__ = ["EngineLock", "holder_text", "private_directory", "private_files"]
