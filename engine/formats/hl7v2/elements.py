"""Element access inside one field value: repetitions, components, sub-components.

Internal helpers shared by :class:`~engine.formats.hl7v2.message.Message` and
:class:`~engine.formats.hl7v2.segment.Segment`. They work on plain strings (no per-element
objects); ``None`` means "absent", ``""`` "present but empty". MSH/BHS/FHS fields 1 and 2
(the delimiters) are atomic: never split.

Cost contract: reading goes through :class:`ElementIndex`, which splits each field into
repetitions, each repetition into components and each component into sub-components at
most once per message, so reading every element of a message costs time linear in its size
however the elements are addressed (``PID-3[k]`` in a loop over ``k`` included). Every
split made for reading goes through :func:`split`, which :func:`count_scans` can meter:
the property tests check that examining a frame scans a number of characters bounded by a
constant times its size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from engine.formats.hl7v2.header import HEADER_SEGMENTS, Delimiters


@dataclass(slots=True)
class ScanCounter:
    """What :func:`split` did while :func:`count_scans` was active."""

    splits: int = 0
    chars: int = 0


_counter: ScanCounter | None = None


@contextmanager
def count_scans() -> Iterator[ScanCounter]:
    """Count the splits made for reading (and the characters they scanned) in this block.

    A test instrument: not thread-safe, and it counts every message read meanwhile.
    """
    global _counter
    previous, _counter = _counter, ScanCounter()
    try:
        yield _counter
    finally:
        _counter = previous


def split(value: str, sep: str) -> list[str]:
    """``value.split(sep)``, metered by :func:`count_scans`."""
    counter = _counter
    if counter is not None:
        counter.splits += 1
        counter.chars += len(value)
    return value.split(sep)


def copy(parts: list[str]) -> list[str]:
    """A copy of a cached split, metered like a split of that many items."""
    counter = _counter
    if counter is not None:
        counter.chars += len(parts)
    return list(parts)


def split_level(value: str, sep: str, segment: str, field: int) -> list[str]:
    if field <= 2 and segment in HEADER_SEGMENTS:
        return [value]
    return split(value, sep)


class ElementIndex:
    """The split levels of one message's fields, each computed once.

    Keys are ``(segment index, field, repetition, component)`` with 0 for "the level above
    is split": ``(i, f, 0, 0)`` holds the repetitions of field ``f`` of segment ``i``,
    ``(i, f, r, 0)`` the components of repetition ``r``, ``(i, f, r, c)`` the
    sub-components of component ``c``. :meth:`clear` after a write.
    """

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: dict[tuple[int, int, int, int], list[str]] = {}

    def clear(self) -> None:
        self._parts.clear()

    def parts(self, key: tuple[int, int, int, int], value: str, sep: str) -> list[str]:
        found = self._parts.get(key)
        if found is None:
            found = self._parts[key] = split(value, sep)
        return found

    def element(
        self,
        i: int,
        f: list[str],
        field: int,
        d: Delimiters,
        rep: int | None,
        comp: int | None,
        sub: int | None,
    ) -> str | None:
        """The raw element of field ``field`` of segment ``i`` (fields ``f``), or None.

        ``rep=None`` with ``comp=None`` is the whole field; header fields 1 and 2 are
        atomic (only index 1 or none reaches them).
        """
        if not 0 < field < len(f):
            return None
        value = f[field]
        if field <= 2 and f[0] in HEADER_SEGMENTS:
            return value if all(x in (None, 1) for x in (rep, comp, sub)) else None
        if rep is None:
            if comp is None:
                return value
            rep = 1
        reps = self.parts((i, field, 0, 0), value, d.repetition)
        if not 0 < rep <= len(reps):
            return None
        value = reps[rep - 1]
        if comp is None:
            return value
        comps = self.parts((i, field, rep, 0), value, d.component)
        if not 0 < comp <= len(comps):
            return None
        value = comps[comp - 1]
        if sub is None:
            return value
        if not d.subcomponent:
            return value if sub == 1 else None
        subs = self.parts((i, field, rep, comp), value, d.subcomponent)
        return subs[sub - 1] if 0 < sub <= len(subs) else None

    def repetitions(self, i: int, f: list[str], field: int, d: Delimiters) -> list[str]:
        """The repetitions of a field (cached; do not modify), [] when absent."""
        if not 0 < field < len(f):
            return []
        if field <= 2 and f[0] in HEADER_SEGMENTS:
            return [f[field]]
        return self.parts((i, field, 0, 0), f[field], d.repetition)


def check_raw(text: str, d: Delimiters, rep: int | None, comp: int | None, sub: int | None) -> None:
    forbidden = ["\r", "\n", d.field]
    if rep is not None or comp is not None:
        forbidden.append(d.repetition)
    if comp is not None:
        forbidden.append(d.component)
    if sub is not None and d.subcomponent:
        forbidden.append(d.subcomponent)
    if any(c in text for c in forbidden):
        raise ValueError("raw value contains a delimiter above the level of the element set")


def replace_element(
    value: str, d: Delimiters, rep: int | None, comp: int | None, sub: int | None, new: str
) -> str:
    if rep is None and comp is None:
        return new
    reps = value.split(d.repetition)
    r = (rep or 1) - 1
    reps += [""] * (r + 1 - len(reps))
    if comp is None:
        reps[r] = new
        return d.repetition.join(reps)
    comps = reps[r].split(d.component)
    comps += [""] * (comp - len(comps))
    if sub is None:
        comps[comp - 1] = new
    elif d.subcomponent:
        subs = comps[comp - 1].split(d.subcomponent)
        subs += [""] * (sub - len(subs))
        subs[sub - 1] = new
        comps[comp - 1] = d.subcomponent.join(subs)
    elif sub == 1:
        comps[comp - 1] = new
    else:
        raise ValueError("this message has no sub-component separator (MSH-2 has 3 characters)")
    reps[r] = d.component.join(comps)
    return d.repetition.join(reps)


__all__ = [
    "ElementIndex",
    "ScanCounter",
    "check_raw",
    "copy",
    "count_scans",
    "replace_element",
    "split",
    "split_level",
]
