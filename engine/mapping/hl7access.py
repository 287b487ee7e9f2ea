"""Reading HL7v2 paths in a message: segment scope and groups, values and ``each`` items.

Scope (inside ``each``): a path naming a segment being iterated reads *that* segment; any
other segment is looked for first in the current group (from the iterated segment to the
next segment of the same id), then, if all its occurrences come before the first segment
that opens such groups (MSH, PID, PV1 before the first OBR), at message level. Otherwise
it is absent: a segment of another group is never read by mistake.

Values read at message level are memoised per message (the same path is read once).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from engine.formats.hl7v2.header import HEADER_SEGMENTS, Delimiters
from engine.formats.hl7v2.segment import Segment
from engine.mapping.context import Context, Rep
from engine.mapping.hl7paths import ALL, Hl7Path, Selector, leaf, primitive

_END = 1 << 30
Frame = tuple[Any, dict[str, Any] | None, tuple[int, int, str] | None]


def positions(ctx: Context, name: str) -> list[int]:
    """Segment indexes of every ``name`` segment in the message (memoised)."""
    key = ("positions", name)
    found: list[int] | None = ctx.cache.get(key)
    if found is None:
        found = [s.index for s in ctx.root.segments(name)]
        ctx.cache[key] = found
    return found


def in_scope(ctx: Context, name: str) -> list[int]:
    """Indexes of the ``name`` segments visible from the current group (see module doc)."""
    found = positions(ctx, name)
    group = ctx.group
    if group is None:
        return found
    start, end, head = group
    inside = [i for i in found if start <= i < end]
    if inside:
        return inside
    heads = positions(ctx, head)
    return found if found and heads and found[-1] < heads[0] else []


def find_segment(ctx: Context, name: str, occurrence: int | None) -> Segment | None:
    if occurrence is None or occurrence == 1:
        current = ctx.segments.get(name)
        if current is not None:
            return current  # type: ignore[no-any-return]
    if ctx.group is None:
        key = (name, occurrence or 1)
        if key not in ctx.cache:
            ctx.cache[key] = ctx.root.segment(name, occurrence or 1)
        return ctx.cache[key]  # type: ignore[no-any-return]
    indexes = in_scope(ctx, name)
    k = (occurrence or 1) - 1
    return Segment(ctx.root, indexes[k]) if k < len(indexes) else None


def _reps(seg: Segment, field: int, d: Delimiters) -> list[str]:
    raw = seg.field(field)
    if not raw:
        return []
    if field <= 2 and seg.name in HEADER_SEGMENTS:
        return [raw]
    return raw.split(d.repetition)


def _select(ctx: Context, reps: list[str], rep: int | Selector | None) -> list[str]:
    if rep is None or rep == ALL:
        return reps if rep == ALL else reps[:1]
    if isinstance(rep, Selector):
        return [r for r in reps if rep.accepts(ctx, r)]
    return reps[rep - 1 : rep]


def _segments(ctx: Context, path: Hl7Path) -> list[Segment]:
    if path.occurrence == ALL:
        return [Segment(ctx.root, i) for i in in_scope(ctx, path.segment)]
    seg = find_segment(ctx, path.segment, path.occurrence)
    return [] if seg is None else [seg]


def _read(
    ctx: Context, seg: Segment, field: int, rep: int | Selector | None, comp: int, sub: int
) -> str:
    msg = ctx.root
    d = msg.delimiters
    raw = seg.field(field)
    if not raw:
        return ""
    if field <= 2 and seg.name in HEADER_SEGMENTS:
        return raw
    if rep is None and d.repetition not in raw:
        return leaf(raw, d, comp, sub, msg.codec)
    chosen = _select(ctx, raw.split(d.repetition), rep)
    return primitive(ctx, chosen[0], comp, sub) if chosen else ""


def _pick_rep(ctx: Context, reps: list[str], selector: Selector) -> str | None:
    for r in reps:
        if selector.accepts(ctx, r):
            return r
    return None


def _pick(ctx: Context, reps: list[str], rep: int | Selector | None, comp: int, sub: int) -> str:
    """One primitive from a field's repetitions."""
    if rep is None:
        chosen = reps[0]
    elif type(rep) is int:
        try:
            chosen = reps[rep - 1]
        except IndexError:
            return ""
    else:
        assert isinstance(rep, Selector)
        for r in reps:
            if rep.accepts(ctx, r):
                chosen = r
                break
        else:
            return ""
    return primitive(ctx, chosen, comp, sub)


def compile_value(path: Hl7Path) -> Callable[[Context], Any]:
    """Evaluator of the path as a value: a text, or a list for ``*`` paths."""
    name, occ, field, rep = path.segment, path.occurrence, path.field, path.repetition
    comp, sub = path.component, path.subcomponent

    if field is None:

        def segment_text(ctx: Context) -> Any:
            seg = find_segment(ctx, name, None if occ == ALL else occ)
            return "" if seg is None else seg.to_text()

        return segment_text
    if path.is_list:

        def many(ctx: Context) -> Any:
            d = ctx.root.delimiters
            out = []
            for seg in _segments(ctx, path):
                select = ALL if rep is None else rep
                for r in _select(ctx, _reps(seg, field, d), select):
                    value = primitive(ctx, r, comp, sub)
                    if value:
                        out.append(value)
            return out

        return many

    key = ("value", path.text)
    fields_key = ("reps", name, occ or 1, field)
    segment_key = ("segment", name, occ or 1)
    choice_key = ("choice", name, occ or 1, field, str(rep))
    atomic = field <= 2 and name in HEADER_SEGMENTS  # MSH-1/MSH-2: never split
    selector = rep if isinstance(rep, Selector) else None

    def one(ctx: Context) -> Any:
        cache = ctx.cache
        if key in cache and ctx.group is None and not ctx.segments:
            return cache[key]
        if ctx.group is None and not ctx.segments and not atomic:
            if fields_key in cache:
                reps = cache[fields_key]
            else:
                if segment_key in cache:
                    seg = cache[segment_key]
                else:
                    seg = cache[segment_key] = ctx.root.segment(name, occ or 1)
                reps = [] if seg is None else _reps(seg, field, ctx.root.delimiters)
                cache[fields_key] = reps
            if not reps:
                cache[key] = ""
                return ""
            if selector is not None:
                if choice_key in cache:
                    chosen = cache[choice_key]
                else:
                    chosen = cache[choice_key] = _pick_rep(ctx, reps, selector)
                value = cache[key] = primitive(ctx, chosen, comp, sub) if chosen else ""
                return value
            value = cache[key] = _pick(ctx, reps, rep, comp, sub)
            return value
        seg = find_segment(ctx, name, occ)
        if seg is None:
            return ""
        return _read(ctx, seg, field, rep, comp, sub)

    return one


def compile_items(path: Hl7Path) -> Callable[[Context], list[Frame]]:
    """Iterator of ``each: <path>``: segments (with their groups) or repetitions."""
    name, field = path.segment, path.field
    if field is None:

        def segments(ctx: Context) -> list[Frame]:
            indexes = in_scope(ctx, name)
            if path.occurrence not in (None, ALL):
                indexes = indexes[path.occurrence - 1 : path.occurrence]
            outer_end = ctx.group[1] if ctx.group is not None else _END
            everyone = positions(ctx, name)
            frames: list[Frame] = []
            for i in indexes:
                k = bisect_right(everyone, i)
                end = min(everyone[k] if k < len(everyone) else _END, outer_end)
                seg = Segment(ctx.root, i)
                frames.append((seg, {**ctx.segments, name: seg}, (i, end, name)))
            return frames

        return segments

    select = ALL if path.repetition is None else path.repetition
    occ = path.occurrence
    fields_key = ("reps", name, occ or 1, field)  # shared with compile_value's memo

    def repetitions(ctx: Context) -> list[Frame]:
        d = ctx.root.delimiters
        if occ != ALL and ctx.group is None and not ctx.segments:
            cache = ctx.cache
            if fields_key in cache:
                reps = cache[fields_key]
            else:
                seg = find_segment(ctx, name, occ)
                reps = cache[fields_key] = [] if seg is None else _reps(seg, field, d)
            return [(Rep(r), None, None) for r in _select(ctx, reps, select)]
        return [
            (Rep(r), None, None)
            for seg in _segments(ctx, path)
            for r in _select(ctx, _reps(seg, field, d), select)
        ]

    return repetitions


def compile_under(
    child: Callable[[Context], list[Frame]], parent: Callable[[Context], list[Frame]]
) -> Callable[[Context], list[Frame]]:
    """``each: CHILD under PARENT``: the child items of every parent group, in order."""

    def nested(ctx: Context) -> list[Frame]:
        saved = ctx.segments, ctx.group
        out: list[Frame] = []
        try:
            for _, segs, group in parent(ctx):
                ctx.segments = saved[0] if segs is None else segs
                ctx.group = saved[1] if group is None else group
                out.extend(child(ctx))
        finally:
            ctx.segments, ctx.group = saved
        return out

    return nested


__all__ = [
    "compile_items",
    "compile_under",
    "compile_value",
    "find_segment",
    "in_scope",
    "positions",
]
