"""Fixtures for the mapping tests: write a map (and tables) in a temporary directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.mapping import CompiledMap, compile_map

REPO = Path(__file__).resolve().parents[3]
A01 = (REPO / "samples" / "hl7v2" / "adt_a01_admission.hl7").read_bytes()

WriteMap = Callable[..., Path]


@pytest.fixture
def write_map(tmp_path: Path) -> WriteMap:
    """Write ``text`` (dedented) as ``<name>.yaml`` and ``tables`` as ``tables/<t>.yaml``."""

    def write(text: str, name: str = "m", tables: dict[str, str] | None = None) -> Path:
        (tmp_path / "tables").mkdir(exist_ok=True)
        for table, body in (tables or {}).items():
            (tmp_path / "tables" / f"{table}.yaml").write_text(
                textwrap.dedent(body).lstrip("\n"), encoding="utf-8"
            )
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def make_map(write_map: WriteMap) -> Callable[..., CompiledMap]:
    """Compile a map written from a snippet: ``make_map(output_yaml, let=..., ...)``."""

    def make(text: str, tables: dict[str, str] | None = None) -> CompiledMap:
        return compile_map(write_map(text, tables=tables))

    return make
