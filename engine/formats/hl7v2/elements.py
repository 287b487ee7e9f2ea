"""Element access inside one field value: repetitions, components, sub-components.

Internal helpers shared by :class:`~engine.formats.hl7v2.message.Message` and
:class:`~engine.formats.hl7v2.segment.Segment`. They work on plain strings (no per-element
objects); ``None`` means "absent", ``""`` "present but empty". MSH/BHS/FHS fields 1 and 2
(the delimiters) are atomic: never split.
"""

from __future__ import annotations

from engine.formats.hl7v2.header import HEADER_SEGMENTS, Delimiters


def split_level(value: str, sep: str, segment: str, field: int) -> list[str]:
    if field <= 2 and segment in HEADER_SEGMENTS:
        return [value]
    return value.split(sep)


def nth(value: str, sep: str, n: int) -> str | None:
    if n == 1:
        k = value.find(sep) if sep else -1
        return value if k < 0 else value[:k]
    if not sep:
        return None
    parts = value.split(sep)
    return parts[n - 1] if n <= len(parts) else None


def element(
    value: str, d: Delimiters, rep: int | None, comp: int | None, sub: int | None
) -> str | None:
    """The raw element inside a field value; ``rep=None`` with ``comp=None`` = whole field."""
    if rep is None:
        if comp is None:
            return value
        rep = 1
    part = nth(value, d.repetition, rep)
    if part is None or comp is None:
        return part
    part = nth(part, d.component, comp)
    if part is None or sub is None:
        return part
    return nth(part, d.subcomponent, sub)


def atomic(value: str, rep: int | None, comp: int | None, sub: int | None, default: str) -> str:
    return value if all(x in (None, 1) for x in (rep, comp, sub)) else default


def leaf(f: list[str], field: int, d: Delimiters, rep: int, comp: int, sub: int) -> str | None:
    if not 0 < field < len(f):
        return None
    if field <= 2 and f[0] in HEADER_SEGMENTS:
        return f[field] if rep == comp == sub == 1 else None
    return element(f[field], d, rep, comp, sub)


def leaf_of_rep(r: str, d: Delimiters, comp: int, sub: int, segment: str, field: int) -> str | None:
    if field <= 2 and segment in HEADER_SEGMENTS:
        return r if comp == sub == 1 else None
    part = nth(r, d.component, comp)
    return None if part is None else nth(part, d.subcomponent, sub)


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
    "atomic",
    "check_raw",
    "element",
    "leaf",
    "leaf_of_rep",
    "nth",
    "replace_element",
    "split_level",
]
