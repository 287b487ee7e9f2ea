"""Named transforms: the registry, ``transform:`` in routes.yaml, its diagnostics
(unknown name with did-you-mean, ``map`` and ``transform`` together) and the engine
built from a configuration that names one."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import Field

from engine.assembly import build_engine, build_route_transforms
from engine.components import ComponentConfig, Payload
from engine.config import check_text, load_config_text
from engine.errors import ConfigError
from engine.formats.cda import CDA_CONTENT_TYPE
from engine.formats.xds import dmp_submission_from_cda, dmp_submission_from_hl7
from engine.message import Envelope
from engine.transforms import (
    Transform,
    lookup_transform,
    register_transform,
    transform,
    transform_names,
    transform_types,
)


class SuffixConfig(ComponentConfig):
    suffix: str = Field("!", description="Appended to the message.")


@transform("test_suffix", config=SuffixConfig)
def suffix_transform(config: SuffixConfig) -> Transform:
    """Test-only: the raw message with a suffix."""

    def apply(envelope: Envelope) -> Payload:
        return Payload(envelope.raw + config.suffix.encode(), "text/plain", {})

    return apply


def routes(tmp_path: Path, route: str) -> str:
    head = f"""\
        version: 1
        engine: {{home: {tmp_path}}}
        channels: {{mllp_in: {{type: mllp, listen: "127.0.0.1:0"}}}}
        destinations: {{out: {{type: file, directory: {tmp_path / "out"}, fsync: false}}}}
        routes:
        """
    return textwrap.dedent(head) + textwrap.dedent(route)


def position(text: str, needle: str) -> tuple[int, int]:
    """1-based (line, column) of the first ``needle`` in ``text``."""
    index = text.index(needle)
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def test_the_dmp_transforms_are_built_in() -> None:
    assert {"dmp_from_cda", "dmp_from_hl7"} <= set(transform_names())
    hl7 = lookup_transform("dmp_from_hl7")
    assert hl7 is not None and hl7.factory is dmp_submission_from_hl7 and hl7.summary
    cda = lookup_transform("dmp_from_cda")
    assert cda is not None and cda.factory is dmp_submission_from_cda
    assert [t.name for t in transform_types()] == transform_names()
    assert lookup_transform("nope") is None


def test_a_config_model_gives_the_factory_its_defaults() -> None:
    kind = lookup_transform("test_suffix")
    assert kind is not None and kind.config_model is SuffixConfig
    assert kind.summary == "Test-only: the raw message with a suffix."
    envelope = Envelope.new(channel="in", raw=b"abc", content_type="text/plain")
    assert kind.create()(envelope).body == b"abc!"


def test_registration_checks_the_name_and_refuses_a_second_factory() -> None:
    with pytest.raises(ValueError, match="must match"):
        register_transform("Bad-Name", dmp_submission_from_cda, "x")
    with pytest.raises(ValueError, match="already registered"):
        register_transform("dmp_from_cda", dmp_submission_from_hl7, "x")
    register_transform("dmp_from_cda", dmp_submission_from_cda)  # same factory: no-op
    assert lookup_transform("dmp_from_cda") is not None


def test_an_unknown_transform_is_reported_at_its_value_with_did_you_mean(
    tmp_path: Path,
) -> None:
    text = routes(tmp_path, "  - {name: oru, to: [out], transform: dmp_from_hl8}\n")
    diagnostics = [d for d in check_text(text, env={}) if d.is_error]
    assert [(d.line, d.col, d.code) for d in diagnostics] == [
        (*position(text, "dmp_from_hl8"), "unknown-transform")
    ]
    assert "did you mean 'dmp_from_hl7'?" in diagnostics[0].message
    assert "dmp_from_cda" in diagnostics[0].message
    with pytest.raises(ConfigError) as exc:
        load_config_text(text, env={})
    assert [d.code for d in exc.value.diagnostics if d.is_error] == ["unknown-transform"]


def test_map_and_transform_together_are_reported_at_the_route(tmp_path: Path) -> None:
    text = routes(
        tmp_path,
        """\
          - name: oru
            to: [out]
            map: oru_to_fr_core
            transform: dmp_from_hl7
        """,
    )
    diagnostics = [d for d in check_text(text, env={}) if d.is_error]
    found = [(d.line, d.col, d.code) for d in diagnostics]
    assert (*position(text, "name: oru"), "map-and-transform") in found
    both = next(d for d in diagnostics if d.code == "map-and-transform")
    assert both.message == "route 'oru' has both 'map' and 'transform': a route applies one of them"


def test_the_engine_registers_the_named_transform_of_each_route(tmp_path: Path) -> None:
    text = routes(
        tmp_path,
        """\
          - {name: cda, when: {content_type: application/cda+xml}, to: [out],
             transform: dmp_from_cda, continue: true}
          - {name: shout, to: [out], transform: test_suffix}
        """,
    )
    engine = build_engine(load_config_text(text, env={}))
    assert set(engine.pipeline.transforms) == {"cda", "shout"}
    envelope = Envelope.new(channel="mllp_in", raw=b"<x/>", content_type=CDA_CONTENT_TYPE)
    payload = engine.pipeline.transforms["cda"](envelope)
    assert (payload.body, payload.content_type) == (b"<x/>", CDA_CONTENT_TYPE)
    assert engine.pipeline.transforms["shout"](envelope).body == b"<x/>!"


def test_a_programmatic_config_with_an_unknown_transform_is_refused(tmp_path: Path) -> None:
    config = load_config_text(routes(tmp_path, "  - {name: a, to: [out]}\n"), env={})
    broken = config.model_copy(
        update={"routes": (config.routes[0].model_copy(update={"transform": "nope"}),)}
    )
    with pytest.raises(ConfigError, match="unknown transform 'nope'"):
        build_route_transforms(broken)
