"""The PAM-FR event set and its insert / cancel / update relations."""

from __future__ import annotations

from engine.formats.hl7v2.pamfr.events import (
    EXCLUDED_EVENTS,
    PAM_EVENTS,
    Role,
    Transaction,
    pam_event,
    unknown_event_reason,
)

ISSUE_SET = {
    *(f"A0{i}" for i in range(1, 8)),
    "A11", "A12", "A13", "A21", "A22", "A28", "A31", "A38", "A40", "A44", "A47",
    "A52", "A53", "A54", "A55", "Z99",
}  # fmt: skip
PENDING = {"A14", "A15", "A16", "A25", "A26", "A27"}


def test_the_event_set_is_the_issue_set_plus_the_optional_pending_events() -> None:
    assert set(PAM_EVENTS) == ISSUE_SET | PENDING
    assert {c for c, e in PAM_EVENTS.items() if e.optional} == PENDING


def test_a08_is_excluded_and_unknown() -> None:
    assert pam_event("A08") is None and "A08" in EXCLUDED_EVENTS
    assert unknown_event_reason("A08").startswith("event A08 is not used in PAM-FR (")
    assert unknown_event_reason("A99") == "event A99 is not used in PAM-FR"


def test_iti30_events_and_their_structures() -> None:
    iti30 = {c: e.structure for c, e in PAM_EVENTS.items() if e.transaction is Transaction.ITI30}
    assert iti30 == {"A28": "ADT_A05", "A31": "ADT_A05", "A47": "ADT_A30", "A40": "ADT_A39"}
    assert all(not PAM_EVENTS[c].has_movement for c in iti30)


def test_every_insert_is_cancelled_by_an_event_that_cancels_it() -> None:
    for code, event in PAM_EVENTS.items():
        if event.role is Role.INSERT:
            canceller = PAM_EVENTS[event.cancelled_by]
            assert code in canceller.cancels, code
            assert event.updatable and event.has_movement


def test_cancel_update_and_swap_actions() -> None:
    a11, a06, z99, a44 = (PAM_EVENTS[c] for c in ("A11", "A06", "Z99", "A44"))
    assert a11.cancels == ("A01", "A04") and a11.actions == {"CANCEL"}
    assert a06.cancels == ("A07",) and a06.actions == {"INSERT", "CANCEL"}
    assert PAM_EVENTS["A07"].cancels == ("A06",)
    assert z99.role is Role.UPDATE and z99.actions == {"UPDATE"} and z99.structure == "ADT_A01"
    assert a44.transaction is Transaction.ITI31 and not a44.has_movement
