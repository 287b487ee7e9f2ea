"""Entry points: read ``routes.yaml``, validate it, run the graph checks, report everything.

Stages, each collecting all its problems: YAML composition with positions, duplicate keys
and ``${VAR}`` expansion (:mod:`engine.config.document`); channel/destination types and
the models (:mod:`engine.config.validate`); the route graph and the maps
(:mod:`engine.config.checks`); the certificate and key files (:mod:`engine.config.files`).
No ``yaml.YAMLError`` or ``pydantic.ValidationError`` leaves this module: every problem is
a :class:`~engine.config.diagnostics.Diagnostic`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from engine.config.checks import check_graph
from engine.config.diagnostics import Diagnostic, sort_diagnostics, summary
from engine.config.document import Document, parse_document
from engine.config.files import check_files
from engine.config.models import Config
from engine.config.validate import build_config
from engine.errors import ConfigError


def load_config(
    path: str | Path, env: Mapping[str, str] | None = None, *, files: bool = True
) -> Config:
    """Load and validate a ``routes.yaml`` file.

    Args:
        path: the file; diagnostics name it as given.
        env: variables for ``${VAR}`` references; ``os.environ`` when None.
        files: also load the certificate and key files it names
            (:mod:`engine.config.files`); False for uses that never connect (route tests).

    Returns:
        The validated config; its ``warnings`` hold the non-fatal diagnostics.

    Raises:
        ConfigError: the file cannot be read or has errors. ``diagnostics`` holds every
            problem found, warnings included, sorted by position.
    """
    file = str(path)
    text, diagnostics = read_source(Path(path), file)
    if text is None:
        raise ConfigError(_message(file, diagnostics), diagnostics)
    return load_config_text(text, file=file, env=env, files=files)


def load_config_text(
    text: str,
    *,
    file: str = "routes.yaml",
    env: Mapping[str, str] | None = None,
    files: bool = True,
) -> Config:
    """Like :func:`load_config` for a file already read; ``file`` names it in diagnostics."""
    config, diagnostics = _process(text, file, env, files=files)
    if config is None or any(d.is_error for d in diagnostics):
        raise ConfigError(_message(file, diagnostics), diagnostics)
    config._warnings = tuple(diagnostics)
    return config


def check_file(path: str | Path, env: Mapping[str, str] | None = None) -> list[Diagnostic]:
    """Every diagnostic (errors and warnings) of a file, sorted by position; never raises
    for a bad file. An empty list means the file is valid and clean."""
    file = str(path)
    text, diagnostics = read_source(Path(path), file)
    if text is None:
        return diagnostics
    return check_text(text, file=file, env=env)


def check_text(
    text: str, *, file: str = "routes.yaml", env: Mapping[str, str] | None = None
) -> list[Diagnostic]:
    """Like :func:`check_file` for a file already read."""
    return _process(text, file, env)[1]


def _process(
    text: str, file: str, env: Mapping[str, str] | None, *, files: bool = True
) -> tuple[Config | None, list[Diagnostic]]:
    doc: Document = parse_document(text, file, os.environ if env is None else env)
    config = build_config(doc)
    check_graph(doc)
    if files:
        check_files(doc)
    return config, sort_diagnostics(doc.diagnostics)


def read_source(path: Path, file: str | None = None) -> tuple[str | None, list[Diagnostic]]:
    """A configuration or map file as text (UTF-8, BOM allowed), or None with the diagnostic
    (``io-error``, or ``encoding-error`` at the line and column of the first bad byte).
    ``file`` names it in diagnostics (the path as given when None)."""
    file = str(path) if file is None else file
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return None, [Diagnostic(file, 1, 1, "error", "io-error", f"cannot read {file}: {reason}")]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = len(raw[raw.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8", "replace"))
        message = f"not valid UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded"
        return None, [Diagnostic(file, line, col + 1, "error", "encoding-error", message)]


def _message(file: str, diagnostics: list[Diagnostic]) -> str:
    errors = [str(d) for d in diagnostics if d.is_error]
    return "\n".join([f"invalid configuration {file}: {summary(diagnostics)}", *errors])


__all__ = ["check_file", "check_text", "load_config", "load_config_text", "read_source"]
