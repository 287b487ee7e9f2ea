"""Live reload in process: routes and maps swap atomically; a broken file changes nothing."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from engine.app import Engine
from engine.assembly import build_engine
from engine.config.loader import load_config
from engine.formats.hl7v2 import read_header
from engine.message import HL7V2, DeliveryState, MessageState
from engine.runstate import read_state
from tests.engine.test_engine import adt, wait_for

MAP = """\
map: tag
source: hl7v2
output:
  resourceType: Basic
  id: = MSH-10
  code: {{text: {version}}}
"""

CONFIG = """\
version: 1
engine: {{home: {home}, mappings: {maps}, poll_interval: 50ms, shutdown_grace: 1s}}
destinations:
  out_a: {{type: file, directory: {home}/a, fsync: false}}
  out_b: {{type: file, directory: {home}/b, fsync: false}}
routes:
  - {{name: main, map: tag, validate: false, to: [{target}]}}
  - {{name: spare, when: {{message_type: ZZZ}}, to: [{other}]}}
"""


def write(tmp_path: Path, target: str = "out_a", version: str = "v1") -> Path:
    maps = tmp_path / "maps"
    maps.mkdir(exist_ok=True)
    (maps / "tag.yaml").write_text(MAP.format(version=version))
    other = "out_b" if target == "out_a" else "out_a"
    path = tmp_path / "routes.yaml"
    path.write_text(CONFIG.format(home=tmp_path / "home", maps=maps, target=target, other=other))
    return path


async def send(engine: Engine, control_id: str) -> str:
    raw = adt(control_id)
    envelope = await engine.accept("in", raw, HL7V2, read_header(raw).metadata())
    return envelope.id


async def delivered(engine: Engine, message_id: str) -> list[tuple[str, str]]:
    async def done() -> bool:
        ds = await engine.store.deliveries(message_id)
        return bool(ds) and all(d.state is DeliveryState.SENT for d in ds)

    await wait_for(done)
    out = []
    for d in await engine.store.deliveries(message_id):
        body = json.loads(Path(d.detail).read_text())
        out.append((d.destination, body["code"]["text"]))
    return out


@pytest.fixture
async def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = write(tmp_path)
    engine = build_engine(load_config(path), source=path)
    await engine.start()
    yield engine
    await engine.stop()


async def test_a_reload_puts_new_routes_and_maps_in_force(engine: Engine, tmp_path: Path) -> None:
    first = await send(engine, "C1")
    assert await delivered(engine, first) == [("out_a", "v1")]
    kept = engine.destinations["out_a"]
    assert engine.reloader is not None
    before = read_state(tmp_path / "home" / "engine.json")
    assert before is not None and before["reload"]["sequence"] == 0

    write(tmp_path, target="out_b", version="v2")
    assert await engine.reloader.reload()
    second = await send(engine, "C2")
    assert await delivered(engine, second) == [("out_b", "v2")]
    assert engine.destinations["out_a"] is kept  # unchanged settings: same instance
    after = read_state(tmp_path / "home" / "engine.json")
    assert after is not None and after["reload"]["outcome"] == "applied"
    assert after["digest"] != before["digest"]

    # a replay routes the first message again with the rules now in force
    assert (await engine.store.request_replay(first)).replayed
    await wait_for(lambda: _routed_to(engine, first, "out_b"))
    assert ("out_b", "v2") in await delivered(engine, first)


async def _routed_to(engine: Engine, message_id: str, destination: str) -> bool:
    stored = await engine.store.get_message(message_id)
    names = [d.destination for d in await engine.store.deliveries(message_id)]
    return stored.state is MessageState.ROUTED and destination in names


async def test_a_broken_file_is_refused_with_diagnostics_and_nothing_changes(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert engine.reloader is not None
    calls: list[str] = []
    engine.reload_hooks.append(lambda: calls.append("hook"))
    router = engine.pipeline.router
    path = write(tmp_path, target="out_c")  # no such destination
    (tmp_path / "maps" / "tag.yaml").write_text("map: tag\nsource: hl7v2\noutput: = nope(\n")
    with caplog.at_level(logging.ERROR, logger="engine.reload"):
        assert not await engine.reloader.reload()
    (record,) = [r for r in caplog.records if r.name == "engine.reload"]
    assert "refused" in record.getMessage() and "kept" in record.getMessage()
    diagnostics = record.__dict__["diagnostics"]
    assert any(f"{path}:" in d and "error[unknown-destination]" in d for d in diagnostics)
    assert engine.pipeline.router is router and calls == []
    state = read_state(tmp_path / "home" / "engine.json")
    assert state is not None and state["reload"]["outcome"] == "refused"
    assert state["reload"]["errors"] == diagnostics
    message = await send(engine, "C3")
    assert await delivered(engine, message) == [("out_a", "v1")]  # the old rules, old map

    write(tmp_path, version="v3")
    assert await engine.reloader.reload() and calls == ["hook"]
    assert await delivered(engine, await send(engine, "C4")) == [("out_a", "v3")]


async def test_a_changed_destination_is_replaced_and_the_old_one_closed(
    engine: Engine, tmp_path: Path
) -> None:
    assert engine.reloader is not None
    old = engine.destinations["out_b"]
    path = write(tmp_path)
    path.write_text(path.read_text().replace("{}/b".format(tmp_path / "home"), str(tmp_path / "c")))
    assert await engine.reloader.reload()
    assert engine.destinations["out_b"] is not old
    assert engine.pipeline.destinations is engine.destinations
    assert old in engine.reloader._retired  # closed after shutdown_grace, or at stop
