"""HL7v2 paths in maps: ``SEG[occ]-field[rep].component.sub``, plus selectors and groups.

On top of the reader's syntax (``docs/hl7v2.md``), a map may select repetitions by content:
``PID-3[.5=PI].1`` is component 1 of the first PID-3 repetition whose component 5 is
``PI``; ``[.4.2=A|B]`` accepts several values, ``[.5!=INS]`` excludes. A bare segment id
(``OBX``) names segments, for ``each``.

Values are unescaped; the HL7 null ``""`` reads as empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.formats.hl7v2.escape import unescape
from engine.formats.hl7v2.header import Delimiters
from engine.mapping.context import Context

ALL = -1
_PATH = re.compile(
    r"(?P<seg>[A-Z][A-Z0-9]{2})(?:\[(?P<occ>[^\]]*)\])?"
    r"(?:-(?P<field>[0-9]+)(?:\[(?P<rep>[^\]]*)\])?"
    r"(?:\.(?P<comp>[0-9]+)(?:\.(?P<sub>[0-9]+))?)?)?"
)
_CONDITION = re.compile(
    r"\.(?P<comp>[0-9]+)(?:\.(?P<sub>[0-9]+))?\s*(?P<op>!=|=)\s*(?P<values>[^|,]*(?:\|[^|,]+)*)"
)


class InvalidHl7Path(ValueError):
    """The path does not follow the map path syntax."""


@dataclass(frozen=True, slots=True)
class Condition:
    component: int
    subcomponent: int
    negate: bool
    values: frozenset[str]


#: In a selector, ``""`` names the HL7 delete (a component sent as ``""``), which every
#: other read sees as empty: ``PID-29[.1=""]`` is a death date the sender deletes.
HL7_NULL = '""'


@dataclass(frozen=True, slots=True)
class Selector:
    """Repetition filter: every condition must hold (``[.5=INS, .1!=]``)."""

    conditions: tuple[Condition, ...]

    def accepts(self, ctx: Context, rep: str) -> bool:
        for c in self.conditions:
            value = primitive(ctx, rep, c.component, c.subcomponent)
            hit = value in c.values or (
                HL7_NULL in c.values and _raw(ctx, rep, c.component, c.subcomponent) == HL7_NULL
            )
            if hit == c.negate:
                return False
        return True


def _raw(ctx: Context, rep: str, comp: int, sub: int) -> str:
    """The component (sub-component) as sent, before unescaping and null handling."""
    d = ctx.root.delimiters
    comps = rep.split(d.component)
    part = comps[comp - 1] if comp <= len(comps) else ""
    if d.subcomponent and d.subcomponent in part:
        subs = part.split(d.subcomponent)
        return subs[sub - 1] if sub <= len(subs) else ""
    return part if sub == 1 else ""


@dataclass(frozen=True, slots=True)
class Hl7Path:
    """A parsed path; ``field`` None names the segment itself."""

    text: str
    segment: str
    occurrence: int | None
    field: int | None
    repetition: int | Selector | None
    component: int
    subcomponent: int

    @property
    def is_list(self) -> bool:
        return self.occurrence == ALL or self.repetition == ALL


def _index(text: str | None, what: str, path: str) -> int | None:
    if text is None:
        return None
    if text.strip() == "*":
        return ALL
    if not text.strip().isdigit() or int(text) < 1:
        raise InvalidHl7Path(f"{what} in {path!r} must be a number from 1, or '*'")
    return int(text)


def _selector(raw: str, text: str) -> Selector:
    conditions: list[Condition] = []
    for part in raw.split(","):
        m = _CONDITION.fullmatch(part.strip())
        if m is None:
            raise InvalidHl7Path(
                f"invalid selector [{raw}] in {text!r}: e.g. [.5=PI], [.4.2=A|B], [.1!=]"
            )
        comp, sub = int(m["comp"]), int(m["sub"] or 1)
        if comp < 1 or sub < 1:
            raise InvalidHl7Path(f"component numbers start at 1 in {text!r}")
        values = frozenset(v.strip() for v in m["values"].split("|"))
        conditions.append(Condition(comp, sub, m["op"] == "!=", values))
    return Selector(tuple(conditions))


def parse_hl7_path(text: str) -> Hl7Path:
    """Parse a map path.

    Raises:
        InvalidHl7Path: with a message naming the problem.
    """
    m = _PATH.fullmatch(text)
    if m is None:
        raise InvalidHl7Path(
            f"invalid HL7v2 path {text!r}: expected SEG[occurrence]-field[repetition]"
            ".component.subcomponent, e.g. PID-3[2].4.2 or PID-3[.5=PI].1"
        )
    rep: int | Selector | None = None
    raw_rep = m["rep"]
    if raw_rep is not None and raw_rep.strip().startswith("."):
        rep = _selector(raw_rep, text)
    else:
        rep = _index(raw_rep, "the repetition", text)
    field = int(m["field"]) if m["field"] else None
    if field == 0:
        raise InvalidHl7Path(f"field numbers start at 1 in {text!r}")
    comp, sub = int(m["comp"] or 1), int(m["sub"] or 1)
    if comp < 1 or sub < 1:
        raise InvalidHl7Path(f"component numbers start at 1 in {text!r}")
    occ = _index(m["occ"], "the segment occurrence", text)
    return Hl7Path(text, m["seg"], occ, field, rep, comp, sub)


def leaf(rep: str, d: Delimiters, comp: int, sub: int, codec: str) -> str:
    """One primitive of a repetition's ER7 text, unescaped; ``""`` (HL7 null) is empty."""
    part = rep
    if comp == 1:
        k = part.find(d.component)
        if k >= 0:
            part = part[:k]
    else:
        parts = part.split(d.component)
        part = parts[comp - 1] if comp <= len(parts) else ""
    if d.subcomponent and (sub > 1 or d.subcomponent in part):
        subs = part.split(d.subcomponent)
        part = subs[sub - 1] if sub <= len(subs) else ""
    if part == '""':
        return ""
    if d.escape in part:
        return unescape(part, d, codec=codec)
    return part


def primitive(ctx: Context, rep: str, comp: int, sub: int) -> str:
    """Like :func:`leaf`, with the repetition's components split once per message."""
    cache = ctx.cache
    msg = ctx.root
    d = msg.delimiters
    comps: list[str]
    if rep in cache:
        comps = cache[rep]
    else:
        comps = cache[rep] = rep.split(d.component)
    try:
        part = comps[comp - 1]
    except IndexError:
        return ""
    if d.subcomponent and (sub > 1 or d.subcomponent in part):
        subs = part.split(d.subcomponent)
        part = subs[sub - 1] if sub <= len(subs) else ""
    if part == '""':
        return ""
    if d.escape in part:
        return unescape(part, d, codec=msg.codec)
    return str(part)


__all__ = [
    "ALL",
    "Condition",
    "Hl7Path",
    "InvalidHl7Path",
    "Selector",
    "leaf",
    "parse_hl7_path",
    "primitive",
]
