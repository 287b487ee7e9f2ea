"""Ordering keys (patient, HL7 paths) and the ``ordering`` option of a destination."""

from __future__ import annotations

import pytest

from engine.assembly import build_engine
from engine.config.loader import check_text, load_config_text
from engine.formats.hl7v2 import read_header
from engine.message import HL7V2, Envelope
from engine.queue.ordering import OrderingRule, check_key
from tests.support.mllp import adt


def envelope(pid: str, content_type: str = HL7V2) -> Envelope:
    raw = adt("C1", pid=pid)
    return Envelope.new(
        channel="in", raw=raw, content_type=content_type, metadata=read_header(raw).metadata()
    )


def test_the_patient_key_is_the_ipp_with_its_authority() -> None:
    rule = OrderingRule("patient")
    ins_first = envelope(
        "PID|1||1234567890123^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^NH~"
        "123^^^CHU&1.2.3&ISO^PI"
    )
    ipp_only = envelope("PID|1||123^^^CHU&1.2.3&ISO^PI")
    other_authority = envelope("PID|1||123^^^CLINIQUE&9.9&ISO^PI")
    assert rule.key_of(ins_first) == rule.key_of(ipp_only) is not None
    assert rule.key_of(other_authority) != rule.key_of(ipp_only)
    key = rule.key_of(ipp_only)
    assert key is not None and len(key) == 32 and "123" not in key  # a digest, not the IPP


def test_messages_without_a_key_are_unordered() -> None:
    assert OrderingRule("patient").key_of(envelope("PID|1||")) is None
    assert OrderingRule("PV1-19.1").key_of(envelope("PID|1||123^^^CHU^PI")) is None
    assert OrderingRule("patient").key_of(envelope("PID|1||1", "application/json")) is None
    assert OrderingRule("PID-3[1].1").key_of(envelope("PID|1||77^^^X^PI")) is not None


@pytest.mark.parametrize("key", ["PID-3[*]", "patients", "PID"])
def test_unusable_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="ordering key"):
        check_key(key)


ROUTES = """\
version: 1
destinations:
  platform:
    type: fhir
    base_url: http://127.0.0.1:9/fhir
    ordering: {{key: {key}, on_dead: continue}}
routes:
  - {{name: adt, to: [platform]}}
"""


def test_ordering_in_routes_yaml_reaches_the_engine() -> None:
    engine = build_engine(load_config_text(ROUTES.format(key="patient")))
    assert engine.pipeline.orderings == {"platform": OrderingRule("patient", "continue")}


def test_a_bad_ordering_key_is_reported_at_its_position() -> None:
    (diagnostic,) = check_text(ROUTES.format(key="'PID-3[*]'"))
    assert diagnostic.is_error and diagnostic.line == 6
    assert "must name one element" in diagnostic.message
