"""``<engine.home>/engine.json``: how commands find the running engine and what it runs.

The engine writes it when it has started and after every reload attempt, and removes it
when it stops: its process id, the configuration file it reads, the digest of that file
and of the maps (:func:`config_digest`), and the outcome of the last reload (a sequence
number, applied or refused, the diagnostics). ``passerelle reload`` signals the process
and waits for the sequence number to move; ``passerelle replay`` compares digests to warn
that the files changed since the engine loaded them. It holds no secret and no patient
data. Writes are atomic (a temporary file renamed over the old one).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from engine.config.models import Config

FILE_NAME = "engine.json"


def state_path(config: Config) -> Path:
    return config.engine.home / FILE_NAME


def config_digest(path: Path, config: Config) -> str:
    """SHA-256 of the configuration file and of every file under the maps directory
    (names and bytes, sorted): it changes when a route or a map changes. Unreadable files
    count as empty."""
    from engine.mapping.routes import mappings_directory

    digest = hashlib.sha256()
    files = [path]
    maps = mappings_directory(config)
    if maps.is_dir():
        files += sorted(p for p in maps.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file).encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(file.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Replace the state file atomically (OSError is the caller's to log)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


def read_state(path: Path) -> dict[str, Any] | None:
    """The state of the engine that wrote ``path`` if that process is alive, else None."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _alive(pid):
        return None
    return dict(state)


def remove_state(path: Path) -> None:
    """Remove the file if this process wrote it."""
    state = None
    with contextlib.suppress(OSError, ValueError):
        state = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(state, dict) and state.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


__all__ = ["FILE_NAME", "config_digest", "read_state", "remove_state", "state_path", "write_state"]
