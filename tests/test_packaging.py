"""Packaging metadata that installs without setuptools warning blocks (issue 16): an SPDX
license expression (PEP 639) instead of the deprecated ``license = {text = ...}`` table, no
``License ::`` classifier beside it (setuptools refuses both), and a plain-path editable
install (no "Editable installation" notice)."""

from __future__ import annotations

import tomllib

from tests.support.corpus import REPO


def test_pyproject_uses_the_forms_setuptools_accepts_silently() -> None:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    project = data["project"]
    assert project["license"] == "GPL-3.0-or-later"
    assert project["license-files"] == ["LICENSE"] and (REPO / "LICENSE").is_file()
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]
    assert "setuptools>=77" in data["build-system"]["requires"]  # PEP 639 support
    assert data["tool"]["setuptools"]["package-dir"] == {"": "."}
