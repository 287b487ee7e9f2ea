"""The repository's routes.yaml and the reference's complete examples must load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine import registry
from engine.config import check_text, load_config
from engine.sandbox.local import sandbox_pki

ROUTES = Path(__file__).resolve().parents[3] / "routes.yaml"


def test_repository_routes_yaml_loads(tmp_path: Path) -> None:
    if not ROUTES.exists():
        pytest.skip("no routes.yaml at the repository root")
    if registry.lookup("source", "mllp") is None or registry.lookup("destination", "file") is None:
        pytest.skip("the mllp source or the file destination is not registered yet")
    sandbox_pki(tmp_path / "sandbox")  # the DMP destination names the sandbox certificates
    config = load_config(ROUTES, env={"PASSERELLE_HOME": str(tmp_path)})
    assert config.version == 1
    assert config.channels and config.routes
    for name, channel in config.channels.items():
        ctype = registry.lookup("source", channel.type)
        assert ctype is not None and isinstance(channel.config, ctype.config_model), name
    for name, dest in config.destinations.items():
        ctype = registry.lookup("destination", dest.type)
        assert ctype is not None and isinstance(dest.config, ctype.config_model), name
    assert not [w for w in config.warnings if w.code != "unused-destination"]


DOCS = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def test_complete_examples_in_the_reference_load() -> None:
    if registry.lookup("source", "mllp") is None or registry.lookup("destination", "file") is None:
        pytest.skip("the mllp source or the file destination is not registered yet")
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    complete = [b for b in blocks if b.startswith("version: 1")]
    assert complete, "the reference has lost its complete example"
    for block in complete:
        assert check_text(block, file="configuration.md", env={}) == []
