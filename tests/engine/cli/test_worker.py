"""``passerelle worker`` and ``passerelle run --workers``: what they refuse."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from engine.assembly import build_engine
from engine.cli import main
from engine.config.loader import load_config_text
from engine.errors import ConfigError


def test_a_worker_without_parent_needs_a_shared_queue(tmp_path: Path) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(f"version: 1\nengine: {{home: {tmp_path}}}\n")
    result = CliRunner().invoke(main, ["worker", "-c", str(config)])
    assert result.exit_code == 1
    assert "needs a shared queue (queue: {backend: dramatiq})" in result.output


def test_worker_processes_need_the_configuration_file() -> None:
    config = load_config_text("version: 1\nengine: {worker_processes: 2}\n")
    try:
        build_engine(config)
    except ConfigError as exc:
        assert "path of the configuration file" in str(exc)
    else:
        raise AssertionError("accepted worker processes without a configuration file")


def test_roles_and_claims_follow_the_topology(tmp_path: Path) -> None:
    embedded = build_engine(load_config_text(f"version: 1\nengine: {{home: {tmp_path}}}\n"))
    assert (embedded.role.value, embedded.pipeline.owner, embedded.children) == ("all", None, None)
    text = f"version: 1\nengine: {{home: {tmp_path}, node: n1, lease: 5s}}\n"
    split = build_engine(load_config_text(text), worker_processes=2, source=tmp_path / "r")
    assert split.role.value == "intake" and split.children is not None
    assert split.children.count == 2 and split.pipeline.lease == 5.0
    owner = split.pipeline.owner
    assert owner is not None and owner.startswith("n1:")
