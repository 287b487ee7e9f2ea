"""Property tests: escapes, robustness on arbitrary bytes, round trip of generated messages."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import ParseError
from engine.formats.hl7v2 import Delimiters, Message, escape, parse, split_batch, unescape
from tests.engine.formats.hl7v2.samples import ADT_A01

# "/" is left out of generated messages: MSH-18 values such as "8859/1" contain it.
ASCII_DELIMS = "|^~\\&#*@$%!:;+=?<>'\"{}"
WIDE_DELIMS = ASCII_DELIMS + "/¦§°˜¤"
PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def delimiters(draw: st.DrawFn, pool: str = ASCII_DELIMS) -> Delimiters:
    chars = draw(st.lists(st.sampled_from(pool), min_size=5, max_size=5, unique=True))
    sub = chars[4] if draw(st.booleans()) else ""
    return Delimiters(chars[0], chars[1], chars[2], chars[3], sub)


# -- escapes ------------------------------------------------------------------------------


@PROFILE
@given(st.text(), delimiters(WIDE_DELIMS))
def test_escape_round_trip(text: str, d: Delimiters) -> None:
    escaped = escape(text, d)
    assert unescape(escaped, d) == text
    assert unescape(escaped, d, codec="utf-8") == text
    for sep in (d.field, d.component, d.repetition, d.subcomponent, "\r", "\n"):
        assert not sep or sep not in escaped


# -- robustness ---------------------------------------------------------------------------

PATHS = ["MSH-9", "MSH-9.2", "MSH-18", "PID-3[2].4.2", "PID-5.1", "OBX[2]-5", "ZZZ-1.1.1"]


def _exercise(raw: bytes) -> None:
    """Parse and read everything; only ParseError may escape."""
    try:
        parts = split_batch(raw)
    except ParseError:
        parts = []
    for part in [raw, *parts]:
        try:
            msg = parse(part)
        except ParseError:
            continue
        assert msg.to_bytes() == part
        msg.header.metadata()
        repr(msg)
        for path in PATHS:
            msg.get(path)
            msg.raw(path)
            msg.get_all(path)
        for seg in msg:
            for n in range(len(seg) + 2):
                seg.field(n)
                for r in range(1, len(seg.repetitions(n)) + 2):
                    for c in range(1, len(seg.components(n, r)) + 2):
                        for s in range(1, len(seg.subcomponents(n, r, c)) + 2):
                            seg.get(n, r, c, s)
                            seg.raw(n, r, c, s)


@PROFILE
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_parse_error(raw: bytes) -> None:
    _exercise(raw)


@PROFILE
@given(
    st.sampled_from([b"MSH", b"\xef\xbb\xbfMSH", b"BHS", b"MSH|^~\\&|"]), st.binary(max_size=300)
)
def test_arbitrary_tails_raise_only_parse_error(head: bytes, tail: bytes) -> None:
    _exercise(head + tail)


INTERESTING = b"|^~\\&\r\n\xef\xbb\xbf\xff\xc3\x00 X"


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from([ADT_A01, ADT_A01.replace(b"\r", b"\n")])))
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data)))
        byte = draw(st.sampled_from(INTERESTING) | st.integers(0, 255))
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        if op == "insert" or pos == len(data):
            data.insert(pos, byte)
        elif op == "replace":
            data[pos] = byte
        else:
            del data[pos]
    return bytes(data)


@PROFILE
@given(mutated())
def test_mutated_real_message_raises_only_parse_error(raw: bytes) -> None:
    _exercise(raw)


# -- generated well-formed messages -------------------------------------------------------

CHARSETS = [
    ("", "utf-8"),
    ("UNICODE UTF-8", "utf-8"),
    ("8859/1", "iso8859-1"),
    ("8859/15", "iso8859-15"),
]
Field = list[list[list[str]]]


@dataclass
class Generated:
    raw: bytes
    delimiters: Delimiters
    segments: list[tuple[str, list[Field]]]  # segment id, fields 1..n (MSH from MSH-3)


def _field_text(field: Field, d: Delimiters) -> str:
    return d.repetition.join(
        d.component.join(d.subcomponent.join(escape(v, d) for v in comp) for comp in rep)
        for rep in field
    )


@st.composite
def generated(draw: st.DrawFn) -> Generated:
    d = draw(delimiters())
    charset, codec = draw(st.sampled_from(CHARSETS))
    text = st.text(st.characters(codec=codec), max_size=6)
    subs = st.lists(text, min_size=1, max_size=2 if d.subcomponent else 1)
    field = st.lists(st.lists(subs, min_size=1, max_size=3), min_size=1, max_size=2)
    seg_id = st.from_regex(r"[A-Z][A-Z0-9]{2}", fullmatch=True).filter(
        lambda s: s not in {"MSH", "BHS", "FHS"}
    )
    msh_fields = draw(st.lists(field, min_size=15, max_size=15))
    msh_fields.append([[[charset]]])  # MSH-18
    body = draw(st.lists(st.tuples(seg_id, st.lists(field, max_size=6)), max_size=5))
    term = draw(st.sampled_from(["\r", "\n", "\r\n"]))
    enc = d.component + d.repetition + d.escape + d.subcomponent
    lines = ["MSH" + d.field + enc + "".join(d.field + _field_text(f, d) for f in msh_fields)]
    lines += [name + "".join(d.field + _field_text(f, d) for f in fields) for name, fields in body]
    text_msg = term.join(lines) + (term if draw(st.booleans()) else "")
    bom = b"\xef\xbb\xbf" if codec == "utf-8" and draw(st.booleans()) else b""
    return Generated(bom + text_msg.encode(codec), d, [("MSH", msh_fields), *body])


def _check_values(msg: Message, gen: Generated) -> None:
    assert [s.name for s in msg] == [name for name, _ in gen.segments]
    for seg, (_, fields) in zip(msg, gen.segments, strict=True):
        first = 3 if seg.name == "MSH" else 1
        assert len(seg) == len(fields) + first - 1
        for n, field in enumerate(fields, first):
            for r, rep in enumerate(field, 1):
                for c, comp in enumerate(rep, 1):
                    for s, value in enumerate(comp, 1):
                        assert seg.get(n, r, c, s) == value


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(generated())
def test_generated_messages_round_trip(gen: Generated) -> None:
    msg = parse(gen.raw)
    assert msg.to_bytes() == gen.raw
    assert msg.delimiters == gen.delimiters
    _check_values(msg, gen)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(generated(), st.data())
def test_set_changes_one_element_only(gen: Generated, data: st.DataObject) -> None:
    msg = parse(gen.raw)
    seg_no = data.draw(st.integers(0, len(gen.segments) - 1))
    name, fields = gen.segments[seg_no]
    occurrence = [n for n, _ in gen.segments[: seg_no + 1]].count(name)
    n = data.draw(st.integers(3 if name == "MSH" else 1, max(len(fields) + 2, 3)))
    value = data.draw(st.text(st.characters(codec="ascii"), max_size=5))
    path = f"{name}[{occurrence}]-{n}[2].2"
    msg.set(path, value)
    again = parse(msg.to_bytes())
    assert again.get(path) == value
    before, after = parse(gen.raw).segments(), again.segments()
    pairs = enumerate(zip(before, after, strict=True))
    changed = [k for k, (a, b) in pairs if a.to_text() != b.to_text()]
    assert changed in ([], [seg_no])
    if changed:
        a, b = before[seg_no], after[seg_no]
        diff = [k for k in range(1, max(len(a), len(b)) + 1) if a.field(k) != b.field(k)]
        assert diff == [n]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(generated(), min_size=1, max_size=3))
def test_split_batch_of_generated_messages(gens: list[Generated]) -> None:
    parts = [g.raw.removeprefix(b"\xef\xbb\xbf") for g in gens]
    parts = [p if p.endswith((b"\r", b"\n")) else p + b"\r" for p in parts]
    assert split_batch(b"".join(parts)) == parts
