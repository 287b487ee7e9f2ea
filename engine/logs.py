"""Structured logging: one JSON object (or key=value line) per event, no patient data.

Callers log a short capitalised sentence and put identifiers in ``extra``::

    log.info("Message accepted.", extra={"message_id": env.id, "control_id": ctrl})

Only ids, control ids, channel/route/destination names, counts and error texts written by
us belong in ``extra``; never names, INS, or message content. Control ids come from the
outside: show them through :func:`safe_id`. As a last line of defence the text formatter
removes ANSI escape sequences and control characters from every line it writes (JSON
escapes them anyway), so nothing received can drive the operator's terminal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from engine.log_throttle import RepeatFilter

SAFE_ID_LENGTH = 64
"""Longest received identifier (MSH-10 ...) shown as is."""
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_PRINTABLE_ID = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


def safe_id(value: str, limit: int = SAFE_ID_LENGTH) -> str:
    """A received identifier (MSH-10, Message-ID ...) fit to log, store as a fact or show.

    Printable ASCII of at most ``limit`` characters is returned unchanged (ids are meant to
    be found again). Anything else -- control characters, ANSI escapes, non-ASCII, a longer
    text, such as a malformed frame whose "control id" holds names or an INS -- becomes
    ``invalid-id:<12 hex digits>``, a digest: stable for one value, showing none of it.
    """
    if not value or (len(value) <= limit and _PRINTABLE_ID.fullmatch(value)):
        return value
    return "invalid-id:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:12]


def strip_controls(text: str) -> str:
    """``text`` without ANSI escape sequences; other control characters (but tab and
    newline) become ``?``."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub("?", _ANSI.sub("", text))


_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "taskName"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        event.update(_fields(record))
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return json.dumps(event, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = strip_controls(
            f"{ts} {record.levelname:<7} {record.getMessage()}" + (f"  {extras}" if extras else "")
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(level: str = "INFO", fmt: Literal["json", "text"] = "text") -> None:
    """Install one handler on the root logger, writing to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RepeatFilter())  # identical failures: once a minute, with a count
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request at INFO: per-message noise on a hot path; shown with DEBUG
    logging.getLogger("httpx").setLevel(logging.DEBUG if root.level <= logging.DEBUG else "WARNING")


__all__ = [
    "SAFE_ID_LENGTH",
    "JsonFormatter",
    "TextFormatter",
    "configure",
    "safe_id",
    "strip_controls",
]
