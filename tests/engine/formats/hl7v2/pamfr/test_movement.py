"""Movement semantics: ZBE-4 INSERT / UPDATE / CANCEL with ZBE-6, Z99 rules."""

from __future__ import annotations

import pytest

from engine.formats.hl7v2 import parse
from engine.formats.hl7v2.pamfr.events import PAM_EVENTS
from engine.formats.hl7v2.pamfr.movement import Movement, check_movement, movement_of
from tests.engine.formats.hl7v2.pamfr.support import sample


def mv(event: str, action: str, original: str = "", nature: str = "HMS") -> Movement:
    return Movement(event, action, original, False, nature, ("1",))


def problems(m: Movement) -> list[tuple[str, int]]:
    return [(f.location, f.code) for f in check_movement(m, PAM_EVENTS[m.event]) if f.is_error]


@pytest.mark.parametrize(
    "movement",
    [
        mv("A01", "INSERT"),
        mv("A11", "CANCEL", "A01"),
        mv("A11", "CANCEL", "A04"),
        mv("A13", "CANCEL", "A03"),
        mv("Z99", "UPDATE", "A01"),
        mv("Z99", "UPDATE", "A02"),
        mv("A06", "CANCEL", "A07"),
        mv("A07", "INSERT"),
        mv("Z99", "UPDATE", "A05", nature="C"),
    ],
)
def test_consistent_movements_have_no_finding(movement: Movement) -> None:
    assert check_movement(movement, PAM_EVENTS[movement.event]) == []


@pytest.mark.parametrize(
    ("movement", "expected"),
    [
        (mv("Z99", "INSERT"), [("ZBE-4", 103)]),  # Z99 is never an insert
        (mv("Z99", "CANCEL", "A01"), [("ZBE-4", 103)]),
        (mv("A01", "UPDATE", "A01"), [("ZBE-4", 103)]),  # UPDATE only with Z99
        (mv("A11", "INSERT"), [("ZBE-4", 103)]),
        (mv("A11", "CANCEL"), [("ZBE-6", 101)]),
        (mv("A11", "CANCEL", "A02"), [("ZBE-6", 103)]),
        (mv("A06", "CANCEL", "A06"), [("ZBE-6", 103)]),
        (mv("Z99", "UPDATE"), [("ZBE-6", 101)]),
        (mv("Z99", "UPDATE", "A11"), [("ZBE-6", 103)]),  # a cancel is not corrected
        (mv("A01", "INSERT", nature="C"), [("ZBE-9", 103)]),
        (mv("Z99", "UPDATE", "A02", nature="C"), [("ZBE-9", 103)]),
    ],
)
def test_inconsistent_movements_are_errors(movement: Movement, expected: list[object]) -> None:
    assert problems(movement) == expected


def test_original_event_with_insert_is_only_a_warning() -> None:
    (finding,) = check_movement(mv("A01", "INSERT", "A01"), PAM_EVENTS["A01"])
    assert (finding.location, finding.severity.value) == ("ZBE-6", "W")


def test_target_event() -> None:
    assert mv("A01", "INSERT").target_event == "A01"
    assert mv("Z99", "UPDATE", "A02").target_event == "A02"
    assert mv("A12", "CANCEL").target_event == "A02"  # only one event it can cancel
    assert mv("A11", "CANCEL").target_event == ""  # A01 or A04: unknown


def test_movement_of_the_samples() -> None:
    z99 = movement_of(parse(sample("adt_z99_update_admission.hl7")))
    assert z99 is not None and (z99.event, z99.action, z99.target_event) == ("Z99", "UPDATE", "A01")
    a11 = movement_of(parse(sample("adt_a11_cancel_admission.hl7")))
    assert a11 is not None and a11.target_event == "A01"
    assert movement_of(parse(sample("adt_a28_create_patient.hl7"))) is None


@pytest.mark.parametrize(
    ("written", "spelled"),
    [
        ("HMS", "HMS"),
        ("SMH", "HMS"),  # any letter order
        ("HM", "MH"),  # PAM-FR's own scenarios write HM
        ("MH", "MH"),
        ("HMC", "MHC"),  # and combine C with a change (Z99 about an A04)
        ("C", "C"),
        ("DL", "LD"),
        ("S", "S"),
        ("HMM", ""),  # repeated letter
        ("SL", ""),  # not a combination of the table
        ("X", ""),
        ("", ""),
    ],
)
def test_movement_natures_in_any_letter_order(written: str, spelled: str) -> None:
    from engine.formats.hl7v2.pamfr.segments import movement_nature

    assert movement_nature(written) == spelled


def test_nature_c_combined_follows_the_c_rule() -> None:
    assert check_movement(mv("Z99", "UPDATE", "A04", nature="HMC"), PAM_EVENTS["Z99"]) == []
    assert problems(mv("A02", "INSERT", nature="HMC")) == [("ZBE-9", 103)]


@pytest.mark.parametrize(
    ("movement", "text"),
    [
        (
            mv("Z99", "UPDATE", "A08"),
            "ZBE-6: a Z99 must name the corrected movement event; A08 is not an event PAM-FR uses",
        ),
        (
            mv("Z99", "UPDATE", "A11"),
            "ZBE-6: a Z99 must name the corrected movement event; A11 is a cancellation",
        ),
        (
            mv("Z99", "UPDATE", "hello"),
            "ZBE-6: a Z99 must name the corrected movement event; the value is not an event code",
        ),
        (
            mv("A11", "CANCEL", "A02"),
            "ZBE-6: A11 with CANCEL cancels A01 or A04; A02 is not one of them",
        ),
        (mv("A11", "CANCEL"), "ZBE-6: empty; with action CANCEL it must name the cancelled event"),
        (mv("Z99", "INSERT"), "ZBE-4: Z99 was sent with action INSERT; a Z99 always uses UPDATE"),
        (
            mv("A01", "UPDATE", "A01"),
            "ZBE-4: A01 was sent with action UPDATE; UPDATE is only used with Z99"
            " (A01 takes INSERT)",
        ),
        (
            mv("Z99", "UPDATE", "A02", nature="C"),
            "ZBE-9: nature C (status change) is only sent on a Z99 correcting A01, A04 or A05;"
            " this Z99 corrects A02",
        ),
    ],
)
def test_finding_texts_say_what_was_wrong(movement: Movement, text: str) -> None:
    (finding,) = check_movement(movement, PAM_EVENTS[movement.event])
    assert finding.ack_error().text == text
