"""A route with ``map:``: the engine compiles the map, registers the route's transform and
delivers FHIR JSON; a map that fails dead-letters that delivery only."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest

from engine.assembly import build_engine
from engine.config import load_config_text
from engine.errors import ConfigError
from engine.formats.hl7v2 import read_header
from engine.mapping.routes import available_maps, build_transforms
from engine.message import HL7V2, DeliveryState
from tests.engine.mapping.conftest import A01, REPO


def routes(tmp_path: Path, validate: bool = True, mappings: Path | None = None) -> str:
    return textwrap.dedent(
        f"""\
        version: 1
        engine: {{home: {tmp_path}, mappings: {mappings or REPO / "mappings"}}}
        channels: {{mllp_in: {{type: mllp, listen: "127.0.0.1:0"}}}}
        destinations:
          fhir_files: {{type: file, directory: {tmp_path / "fhir"}, fsync: false}}
        routes:
          - name: adt_to_fr_core
            when: {{message_type: ADT}}
            to: [fhir_files]
            map: pam_fr_adt_to_fr_core
            validate: {str(validate).lower()}
        """
    )


def test_routes_with_a_map_get_a_transform_and_the_validate_option(tmp_path: Path) -> None:
    config = load_config_text(routes(tmp_path, validate=False), env={})
    assert config.routes[0].validate_ is False
    assert config.engine.mappings == REPO / "mappings"
    transforms = build_transforms(config)
    assert set(transforms) == {"adt_to_fr_core"}
    assert "pam_fr_adt_to_fr_core" in available_maps(REPO / "mappings")
    assert "pam_fr_adt_to_fr_core_test" not in available_maps(REPO / "mappings")


def test_a_missing_map_stops_the_configuration(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config_text(routes(tmp_path, mappings=tmp_path), env={})
    assert [d.code for d in exc.value.diagnostics if d.is_error] == ["unknown-map"]


async def test_the_engine_delivers_the_mapped_bundle(tmp_path: Path) -> None:
    # Given an engine built from a configuration whose route maps ADT to FR Core
    engine = build_engine(load_config_text(routes(tmp_path), env={}))
    assert set(engine.pipeline.transforms) == {"adt_to_fr_core"}
    await engine.start()
    try:
        # When an A01 and an A01 without IPP are accepted
        good = await engine.accept("mllp_in", A01, HL7V2, read_header(A01).metadata())
        broken_raw = A01.replace(b"^PI~", b"^XX~").replace(b"000001|", b"000099|")
        broken = await engine.accept(
            "mllp_in", broken_raw, HL7V2, read_header(broken_raw).metadata()
        )

        async def done() -> bool:
            states = [await engine.store.deliveries(m.id) for m in (good, broken)]
            return all(d and d[0].state.finished for d in states)

        for _ in range(500):
            if await done():
                break
            await asyncio.sleep(0.01)
        # Then the first is delivered as a FHIR transaction Bundle
        (sent,) = await engine.store.deliveries(good.id)
        assert sent.state is DeliveryState.SENT
        body = json.loads(Path(sent.detail).read_bytes())
        assert body["resourceType"] == "Bundle" and len(body["entry"]) == 3
        # And the second is dead-lettered with the map, the rule and the path
        (dead,) = await engine.store.deliveries(broken.id)
        assert dead.state is DeliveryState.DEAD
        assert dead.last_error.startswith("mapping: map 'pam_fr_adt_to_fr_core', rule 'let'")
        assert "required(PID-3[.5=PI].1" in dead.last_error
    finally:
        await engine.stop()
