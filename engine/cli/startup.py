"""Startup errors told the way ``check`` tells configuration errors: where, what, what to do.

The engine raises :class:`~engine.errors.ChannelError` texts such as ``cannot listen on
127.0.0.1:2575: Address already in use`` without knowing which file they came from; the
CLI does, so :func:`explain_startup` finds the channel whose ``listen`` is that address
and prints ``routes.yaml:LINE:COL: channel 'mllp_in': ...`` with the variable to change
when the port comes from one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from engine.config.document import Document, parse_document
from engine.config.loader import read_source

_LISTEN = re.compile(r"cannot listen on \[?([^\s\]]+?)\]?:(\d+): (.+)$")
_VAR = re.compile(r"\$\{(\w+)")


def explain_startup(config: Path, error: Exception) -> str:
    """One line for ``error``; positioned at the channel's ``listen`` key when it is about
    listening, else the error's own text."""
    text = str(error)
    found = _LISTEN.search(text)
    if found is None:
        return text
    host, port, reason = found.groups()
    reason = reason.rpartition("): ")[2] if reason.startswith("error while attempting") else reason
    source, _ = read_source(config)
    if source is None:
        return text
    doc = parse_document(source, str(config), os.environ)
    channel = _listening(doc, host, port)
    if channel is None:
        return text
    line, col = doc.position(("channels", channel, "listen"))
    written = source.splitlines()[line - 1] if line <= len(source.splitlines()) else ""
    var = _VAR.search(written[col - 1 :])
    change = f"set {var.group(1)}=... or change 'listen'" if var else "change 'listen'"
    hint = (
        "another program already listens there: stop it, or " if "in use" in reason.lower() else ""
    )
    return (
        f"{config}:{line}:{col}: channel {channel!r}: cannot listen on {host}:{port}:"
        f" {reason}; {hint}{change}"
    )


def _listening(doc: Document, host: str, port: str) -> str | None:
    channels = doc.data.get("channels") if isinstance(doc.data, dict) else None
    if not isinstance(channels, dict):
        return None
    for name, entry in channels.items():
        listen = entry.get("listen") if isinstance(entry, dict) else None
        if isinstance(listen, str | int):
            where, _, bound = str(listen).strip("[").rpartition(":")
            if bound == port and where.rstrip("]") in (host, ""):
                return str(name)
    return None


__all__ = ["explain_startup"]
