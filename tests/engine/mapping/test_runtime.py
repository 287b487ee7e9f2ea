"""Run time: errors name map, rule and source path (never values); transforms and validation."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from engine.errors import MappingError
from engine.formats.hl7v2 import parse, read_header
from engine.mapping import (
    CompiledMap,
    InvalidOutput,
    MapNotApplicable,
    MapRuntimeError,
    fhir_problems,
)
from engine.message import HL7V2, Envelope
from tests.engine.mapping.conftest import A01

Make = Callable[..., CompiledMap]

PATIENT = """
map: m
source: hl7v2
let:
  ipp: = required(PID-3[.5=PI].1, 'the IPP')
when: = MSH-9.1 == 'ADT'
output:
  resourceType: Bundle
  type: transaction
  entry:
    - rule: patient
      resource:
        resourceType: Patient
        birthDate: = hl7_date(PID-7)
        gender: = lookup('sex', PID-8)
      request:
        method: PUT
        url: = 'Patient?identifier=' + ipp
"""
SEX = {"sex": "rows: {F: female, M: male}\nunknown: error\n"}


def envelope(raw: bytes) -> Envelope:
    return Envelope.new(
        channel="in", raw=raw, content_type=HL7V2, metadata=read_header(raw).metadata()
    )


def test_a_run_time_error_names_map_rule_and_path_but_no_value(make_map: Make) -> None:
    m = make_map(PATIENT, tables=SEX)
    bad = A01.replace(b"|19850712|", b"|19851399|")
    with pytest.raises(MapRuntimeError) as exc:
        m.apply(bad)
    error = exc.value
    assert (error.map_name, error.rule, error.source) == ("m", "patient", "hl7_date(PID-7)")
    assert error.element == "output.entry[0].resource.birthDate"
    assert error.location.endswith("m.yaml:13:22")  # the expression after "birthDate: = "
    assert str(error) == (
        f"map 'm', rule 'patient' (output.entry[0].resource.birthDate, {error.location}):"
        " hl7_date(PID-7): not a valid HL7 date/time"
    )
    assert "19851399" not in str(error)


def test_required_values_and_table_codes_fail_with_the_rule(make_map: Make) -> None:
    m = make_map(PATIENT, tables=SEX)
    with pytest.raises(MapRuntimeError) as exc:
        m.apply(A01.replace(b"^PI~", b"^XX~"))
    assert exc.value.rule == "let" and exc.value.element == "let.ipp"
    assert exc.value.reason == "no value for the IPP"
    with pytest.raises(MapRuntimeError, match=r"lookup\('sex', PID-8\): the code is not in table"):
        m.apply(A01.replace(b"|F|||12", b"|X|||12"))


def test_a_false_top_level_when_means_the_map_does_not_apply(make_map: Make) -> None:
    m = make_map(PATIENT, tables=SEX)
    oru = A01.replace(b"ADT^A01^ADT_A01", b"ORU^R01^ORU_R01")
    with pytest.raises(MapNotApplicable, match="does not apply"):
        m.apply(oru)


def test_inputs_in_every_form_and_the_envelope_charset(make_map: Make) -> None:
    m = make_map("map: m\nsource: hl7v2\noutput:\n  family: = PID-5[2].1\n")
    latin1 = (A01.replace(b"UNICODE UTF-8", b"8859/1").decode("utf-8")).encode("latin-1")
    assert m.apply(A01) == m.apply(parse(A01)) == m.apply(envelope(A01))
    assert m.apply(envelope(latin1)) == {"family": "LEGRAND"}
    with pytest.raises(MappingError, match="not HL7v2"):
        m.apply(b"not hl7")


def test_transform_payload_is_fhir_json_with_the_map_in_metadata(make_map: Make) -> None:
    transform = make_map(PATIENT, tables=SEX).to_transform(validate=True)
    payload = transform(envelope(A01))
    assert payload.content_type == "application/fhir+json"
    assert payload.metadata["mapping.map"] == "m"
    assert payload.metadata["hl7.control_id"] == "ADT20261120093000001"
    body = json.loads(payload.body)
    assert body["entry"][0]["resource"] == {
        "resourceType": "Patient",
        "birthDate": "1985-07-12",
        "gender": "female",
    }


def test_validation_rejects_invalid_fhir_without_quoting_values(make_map: Make) -> None:
    m = make_map(
        """
        map: m
        source: hl7v2
        output:
          resourceType: Patient
          birthDate: = PID-7
          colour: = PID-8
        """
    )
    out = m.apply(A01)
    assert fhir_problems(out) == [
        "birthDate: Value error, Date value string does not match spec regex.",
        "colour: Extra inputs are not permitted",
    ]
    assert fhir_problems({"resourceType": "Nope"}) == [
        "resourceType: 'Nope' is not an R4B resource type"
    ]
    with pytest.raises(InvalidOutput) as exc:
        m.to_transform(validate=True)(envelope(A01))
    assert "not valid FHIR R4B" in str(exc.value) and "colour" in str(exc.value)
    assert "19850712" not in str(exc.value)
    # Validation is a route option: off, the same output goes through
    assert m.to_transform(validate=False)(envelope(A01)).body.startswith(b'{"resourceType"')


def test_a_defect_is_still_a_mapping_error(make_map: Make) -> None:
    m = make_map("map: m\nsource: hl7v2\noutput:\n  a: = PID-8\n")

    def broken(ctx: object) -> object:
        raise ZeroDivisionError

    m.run = broken
    with pytest.raises(MapRuntimeError, match=r"internal error \(ZeroDivisionError\)"):
        m.apply(A01)
