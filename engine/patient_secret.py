"""The key of the patient index (:mod:`engine.patient_index`), from ``store.patient_index``.

Order: ``enabled: false`` -> no index; ``secret`` (a ``${VAR}`` reference) -> its UTF-8
bytes; else the key file (``key_file``, default ``<engine.home>/patient-index.key``),
created once with 32 random bytes (hex, mode 0600) by the engine when missing, so a
sandbox or quickstart indexes patients with no setting. Read-only commands never create
it. The key is never logged nor printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

from engine.config.models import Config
from engine.errors import ConfigError

KEY_FILE = "patient-index.key"
_UNSET = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def key_file(config: Config) -> Path:
    """Where the key is read from when the configuration gives no ``secret``."""
    return config.store.patient_index.key_file or config.engine.home / KEY_FILE


def patient_secret(config: Config, *, create: bool = False) -> bytes | None:
    """The key, or None when the index is off or (``create`` False) no key exists yet.

    Raises:
        ConfigError: the key file cannot be read or created, or is empty.
    """
    settings = config.store.patient_index
    if not settings.enabled:
        return None
    if settings.secret is not None:
        value = settings.secret.get_secret_value()
        if not value:
            raise ConfigError("store.patient_index.secret is empty")
        if _UNSET.fullmatch(value):  # a lenient load kept the reference: the variable is unset
            raise ConfigError(f"store.patient_index.secret: {value} is not set")
        return value.encode("utf-8")
    path = key_file(config)
    try:
        if create and not path.exists():
            _create(path)
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"patient index key {path}: {exc}") from exc
    if not text:
        raise ConfigError(f"patient index key {path} is empty")
    return text.encode("ascii")


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # another process made it first: read theirs
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32) + "\n")


__all__ = ["KEY_FILE", "key_file", "patient_secret"]
