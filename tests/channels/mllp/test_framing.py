"""The MLLP frame codec: unit cases and property tests over arbitrary chunking."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.mllp.framing import HEAD_BYTES, FrameDecoder, encode_frame
from engine.errors import FrameTooLarge, FramingError

VT, FS, CR = b"\x0b", b"\x1c", b"\r"


def test_encode_frame() -> None:
    assert encode_frame(b"MSH|x") == b"\x0bMSH|x\x1c\r"


@pytest.mark.parametrize("payload", [b"a\x0bb", b"a\x1cb"])
def test_encode_refuses_block_characters(payload: bytes) -> None:
    with pytest.raises(FramingError):
        encode_frame(payload)


def test_decode_frames_and_whitespace_between() -> None:
    d = FrameDecoder(100)
    assert d.feed(b"\r\n" + encode_frame(b"one") + b"\n" + encode_frame(b"two")) == [b"one", b"two"]
    assert not d.in_frame and d.pending == 0


def test_frame_split_across_feeds() -> None:
    d = FrameDecoder(100)
    assert d.feed(b"\x0bMSH|") == []
    assert d.in_frame and d.pending == 4
    assert d.feed(b"abc\x1c") == [b"MSH|abc"]
    assert d.feed(b"\r") == []
    assert not d.in_frame


def test_missing_final_carriage_return_is_tolerated() -> None:
    d = FrameDecoder(100)
    assert d.feed(b"\x0bone\x1c") == [b"one"]  # emitted without waiting for the CR
    assert d.feed(b"\x0btwo\x1c\x0bthree\x1c\r") == [b"two", b"three"]


def test_empty_frame() -> None:
    assert FrameDecoder(10).feed(b"\x0b\x1c\r") == [b""]


@pytest.mark.parametrize("data", [b"hello", b" \x0bx\x1c\r", b"\x0bx\x1c\rZ", b"\x1c"])
def test_bytes_outside_a_frame_are_an_error(data: bytes) -> None:
    d = FrameDecoder(100)
    with pytest.raises(FramingError) as info:
        d.feed(data)
        d.feed(b"")
    assert not isinstance(info.value, FrameTooLarge)


def test_start_block_inside_a_frame_is_an_error() -> None:
    with pytest.raises(FramingError):
        FrameDecoder(100).feed(b"\x0babc\x0bdef\x1c\r")


def test_error_after_frames_is_deferred_then_sticky() -> None:
    d = FrameDecoder(100)
    assert d.feed(encode_frame(b"ok") + b"garbage") == [b"ok"]
    assert isinstance(d.error, FramingError)
    with pytest.raises(FramingError):
        d.feed(b"")
    with pytest.raises(FramingError):
        d.feed(encode_frame(b"later"))


def test_frame_of_exactly_max_size_is_accepted() -> None:
    assert FrameDecoder(5).feed(encode_frame(b"12345")) == [b"12345"]


def test_oversize_frame_raises_as_soon_as_the_limit_is_passed() -> None:
    d = FrameDecoder(10)
    d.feed(b"\x0bMSH|12345")
    with pytest.raises(FrameTooLarge) as info:
        d.feed(b"67890")  # 14 bytes, no end block yet
    assert info.value.head == b"MSH|1234567890"[: len(info.value.head)]
    assert info.value.head.startswith(b"MSH|12345")
    with pytest.raises(FrameTooLarge):
        d.feed(b"")


def test_oversize_head_is_bounded() -> None:
    d = FrameDecoder(HEAD_BYTES * 2)
    with pytest.raises(FrameTooLarge) as info:
        d.feed(VT + b"x" * (HEAD_BYTES * 3))
    assert info.value.head == b"x" * HEAD_BYTES
    assert "maximum size of 8192 bytes" in str(info.value)


def test_oversize_head_stops_at_the_end_block() -> None:
    d = FrameDecoder(3)
    with pytest.raises(FrameTooLarge) as info:
        d.feed(b"\x0babcdef\x1c\r\x0bnext\x1c\r")
    assert info.value.head == b"abcdef"


def test_invalid_max() -> None:
    with pytest.raises(ValueError):
        FrameDecoder(0)


# --- properties -------------------------------------------------------------------------

payloads = st.binary(max_size=300).map(lambda b: b.replace(VT, b"").replace(FS, b""))
separators = st.sampled_from([b"", b"\r", b"\n", b"\r\n", b"\r\r\n"])


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300)
@given(
    frames=st.lists(st.tuples(payloads, st.booleans(), separators), max_size=8),
    lead=separators,
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=20),
)
def test_any_chunking_yields_the_same_frames(
    frames: list[tuple[bytes, bool, bytes]], lead: bytes, cuts: list[int]
) -> None:
    stream = lead + b"".join(
        VT + p + FS + (CR if with_cr else b"") + sep for p, with_cr, sep in frames
    )
    d = FrameDecoder(300)
    out: list[bytes] = []
    for chunk in chunked(stream, cuts):
        out.extend(d.feed(chunk))
    assert out == [p for p, _, _ in frames]
    assert not d.in_frame and d.pending == 0 and d.error is None


@settings(max_examples=500)
@given(
    data=st.binary(max_size=400),
    cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=10),
    limit=st.integers(min_value=1, max_value=64),
)
def test_arbitrary_bytes_only_raise_framing_errors(
    data: bytes, cuts: list[int], limit: int
) -> None:
    d = FrameDecoder(limit)
    failed: FramingError | None = None
    for chunk in [*chunked(data, cuts), b""]:
        try:
            for frame in d.feed(chunk):
                assert len(frame) <= limit
                assert VT not in frame and FS not in frame
        except FramingError as exc:  # anything else fails the test
            failed = exc
            break
    if failed is not None:
        with pytest.raises(FramingError):
            d.feed(b"\x0bok\x1c\r")
        assert d.error is failed
        assert not d.in_frame and d.pending == 0
    else:
        assert d.pending <= limit


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=6),
    limit=st.integers(min_value=1, max_value=30),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
def test_oversize_frames_stop_the_stream(sizes: list[int], limit: int, cuts: list[int]) -> None:
    bodies = [bytes([65 + i % 26]) * n for i, n in enumerate(sizes)]
    stream = b"".join(encode_frame(b) for b in bodies)
    d = FrameDecoder(limit)
    out: list[bytes] = []
    error: FrameTooLarge | None = None
    for chunk in [*chunked(stream, cuts), b""]:
        try:
            out.extend(d.feed(chunk))
        except FrameTooLarge as exc:
            error = exc
            break
    first_big = next((i for i, b in enumerate(bodies) if len(b) > limit), None)
    if first_big is None:
        assert error is None and out == bodies
    else:
        assert error is not None
        assert out == bodies[:first_big]
        big = bodies[first_big]
        assert big.startswith(error.head)
        assert len(error.head) >= min(HEAD_BYTES, limit + 1)
