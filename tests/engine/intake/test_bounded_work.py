"""Bounded work per frame: examination linear in the frame size, hard limits before parsing.

Linearity is checked by operation counts, never by the clock: the characters the element
index splits (``count_scans``) and the Python lines executed (``sys.settrace``) while a
frame is examined with every costly option on (PAM-FR strict validation, DMP gating).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.formats.hl7v2.ack import AckOutcome
from engine.formats.hl7v2.elements import count_scans
from engine.intake.hl7v2 import Hl7IntakeOptions, Verdict, examine, review_after_ack
from engine.intake.limits import CARDINALITY, TOO_LONG, FrameLimits
from tests.support.mllp import adt, msa

UNLIMITED = FrameLimits(max_segments=10**7, max_repetitions=10**7)
COSTLY = Hl7IntakeOptions(validation="strict", dmp_gating="refuse", limits=UNLIMITED)
MSH = (
    "MSH|^~\\&|GAM|CHU|PASSERELLE|GRADES|20261120093012||{type}|C1|P|2.5^FRA^2.11|||||FRA|"
    "UNICODE UTF-8\r"
)


@dataclass
class Work:
    chars: int = 0
    lines: int = 0


@contextmanager
def metered() -> Iterator[Work]:
    """Count split characters and executed Python lines in the block."""
    work = Work()

    def trace(frame: FrameType, event: str, arg: Any) -> Callable[..., Any]:
        if event == "line":
            work.lines += 1
        return trace

    with count_scans() as scans:
        sys.settrace(trace)
        try:
            yield work
        finally:
            sys.settrace(None)
    work.chars = scans.chars


def examined(frame: bytes, options: Hl7IntakeOptions = COSTLY) -> Work:
    with metered() as work:
        examine(frame, options)
    return work


def tilde_frame(where: str, n: int) -> bytes:
    """An A01 whose ``where`` field is a run of ``n`` repetition separators."""
    run = "~" * n
    pid3 = run if where == "PID-3" else "123^^^CHU^PI"
    pid32 = run if where == "PID-32" else "VALI"
    zbe1 = run if where == "ZBE-1" else "MVT1^CHU"
    pid = "PID|1||" + pid3 + "|" * 29 + pid32
    body = f"EVN||20261120093012\r{pid}\rPV1|1|I\rZBE|{zbe1}|20261120093012||INSERT|N\r"
    return (MSH.format(type="ADT^A01^ADT_A01") + body).encode()


def test_tilde_runs_cost_work_linear_in_their_length() -> None:
    for where in ("PID-3", "PID-32", "ZBE-1"):
        small, large = examined(tilde_frame(where, 500)), examined(tilde_frame(where, 8000))
        # 16 times the repetitions: a linear examination does about 16 times the work,
        # the quadratic one it replaced did 256 times (8,000 re-splits of 8,000 characters).
        assert large.chars <= 20 * small.chars, where
        assert large.lines <= 20 * small.lines, where
        assert large.chars <= 12 * len(tilde_frame(where, 8000)), where


def test_repeated_access_to_one_repetition_never_resplits_the_field() -> None:
    from engine.formats.hl7v2 import parse

    msg = parse(tilde_frame("PID-3", 4000))
    pid = msg.segment("PID")
    assert pid is not None
    with count_scans() as scans:
        for rep in range(1, len(pid.repetitions(3)) + 1):
            pid.get(3, rep, 5)
            pid.get(3, rep, 4, 2)
            msg.get(f"PID-3[{rep}].1")
    assert scans.chars <= 4 * len(msg.to_bytes())


# -- property: any frame, examined with every option on --------------------------------

_PIECES = st.sampled_from(["~", "^", "&", "|", "\\", "A", "1", "INS", "VALI", "~~~~", "^^^^"])
_SEGMENTS = st.sampled_from(["PID", "PV1", "ZBE", "ZFA", "MRG", "OBX", "EVN", "PD1", "NTE"])
_TYPES = st.sampled_from(["ADT^A01^ADT_A01", "ADT^A47^ADT_A30", "ORU^R01^ORU_R01", "MDM^T02"])


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    segments = [MSH.format(type=draw(_TYPES))]
    for _ in range(draw(st.integers(0, 12))):
        name = draw(_SEGMENTS)
        pieces = draw(st.lists(_PIECES, max_size=60))
        runs = draw(st.lists(st.tuples(_PIECES, st.integers(1, 400)), max_size=3))
        segments.append(name + "|" + "".join(pieces) + "".join(p * k for p, k in runs) + "\r")
    return "".join(segments).encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_examination_work_is_linear_in_the_frame_size(frame: bytes) -> None:
    work = examined(frame)
    # constants measured on the current code with a wide margin; a quadratic access
    # pattern over a 1,000-repetition field blows through them by two orders of magnitude
    assert work.chars <= 16 * len(frame) + 2_000
    assert work.lines <= 300 * len(frame) + 60_000


# -- hard limits ------------------------------------------------------------------------


def test_too_many_repetitions_is_refused_before_any_parsing() -> None:
    frame = tilde_frame("PID-3", 49_000)  # the 49 KB frame of the probe
    with metered() as work:
        exam = examine(frame, Hl7IntakeOptions(validation="strict"))
    assert work.chars == 0  # no element was split: refused on the raw bytes
    assert exam.verdict is Verdict.REJECT and exam.outcome is AckOutcome.ERROR
    assert [(e.code, e.segment, e.field) for e in exam.errors] == [(CARDINALITY, "PID", 3)]
    assert exam.reason == "PID-3 has more repetitions than the channel allows (1000)"
    ack = exam.ack()
    assert ack is not None and msa(ack)[1:3] == ["AE", "C1"]
    assert b"ERR||PID^1^3|198^Non-conformant cardinality^HL70357|E" in ack


def test_limits_name_the_limit_and_the_place_never_the_value() -> None:
    limits = FrameLimits(max_segments=5, max_repetitions=3, max_field_length=40)
    options = Hl7IntakeOptions(limits=limits)
    long_name = adt("L1", pid="PID|1||123^^^CHU^PI||" + "DUPONT" * 10)
    exam = examine(long_name, options)
    assert [(e.code, e.segment, e.field) for e in exam.errors] == [(TOO_LONG, "PID", 5)]
    assert exam.reason == "PID-5 is longer than the channel allows (40 bytes)"
    reps = adt("R1", pid="PID|1||1^^^A^PI~2^^^A^PI~3^^^A^PI")
    assert examine(reps, options).verdict is Verdict.ACCEPT  # exactly 3: allowed
    reps = adt("R2", pid="PID|1||1^^^A^PI~2^^^A^PI~3^^^A^PI~4^^^A^PI")
    assert [(e.code, e.segment, e.field) for e in examine(reps, options).errors] == [
        (CARDINALITY, "PID", 3)
    ]
    many = adt("S1") + b"NTE|1\r" * 3
    exam = examine(many, options)
    assert [(e.code, e.segment) for e in exam.errors] == [(CARDINALITY, None)]
    assert exam.reason == "the message has more segments than the channel allows (5)"
    for refused in (long_name, reps, many):
        assert b"DUPONT" not in (examine(refused, options).ack() or b"")


def test_msh2_encoding_characters_are_not_repetitions() -> None:
    options = Hl7IntakeOptions(limits=FrameLimits(max_repetitions=1))
    assert examine(adt("M1"), options).verdict is Verdict.ACCEPT


def test_raised_limits_let_a_large_frame_be_examined_in_full() -> None:
    exam = examine(tilde_frame("PID-3", 49_000), COSTLY)
    assert exam.verdict is Verdict.REJECT  # strict: PID-3 holds no identifier at all
    assert exam.errors[0].text == "PID-3: patient identifier list is missing; PAM-FR requires it"
    frame = tilde_frame("PID-3", 49_000)
    warn = examine(frame, Hl7IntakeOptions(limits=UNLIMITED))
    assert warn.verdict is Verdict.ACCEPT  # warn: the review runs after the ACK
    assert review_after_ack(frame, warn.metadata)["validation.errors"] == "4"


@settings(max_examples=150, deadline=None)
@given(frames(), st.integers(1, 30), st.integers(1, 120), st.integers(2, 14))
def test_limits_on_raw_bytes_agree_with_the_parsed_message(
    frame: bytes, max_reps: int, max_length: int, max_segments: int
) -> None:
    from engine.formats.hl7v2 import parse, read_header
    from engine.intake.limits import check_limits

    limits = FrameLimits(max_segments, max_reps, max_length)
    breach = check_limits(frame, read_header(frame), limits)
    msg = parse(frame)
    too_many_segments = len(msg) > max_segments
    fields = [
        (seg.name, n, seg.field(n))
        for seg in msg
        for n in range(1, len(seg) + 1)
        if not (seg.name == "MSH" and n <= 2)
    ]
    worst = [
        (name, n)
        for name, n, value in fields
        if value.count("~") >= max_reps or len(value.encode()) > max_length
    ]
    if too_many_segments:
        assert breach is not None and breach.code == CARDINALITY and breach.segment is None
    elif worst:
        assert breach is not None and (breach.segment, breach.field) == worst[0]
    else:
        assert breach is None
