"""A lazy view on one segment of a parsed message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.formats.hl7v2.elements import atomic, element, leaf, split_level
from engine.formats.hl7v2.escape import unescape
from engine.formats.hl7v2.header import HEADER_SEGMENTS

if TYPE_CHECKING:
    from engine.formats.hl7v2.message import Message


class Segment:
    """A view on one segment of a :class:`Message` (no copy; field access is lazy)."""

    __slots__ = ("_msg", "index")

    def __init__(self, msg: Message, index: int) -> None:
        self._msg = msg
        self.index = index

    @property
    def name(self) -> str:
        return self._msg._fields_of(self.index)[0]

    def __len__(self) -> int:
        """Number of fields (the highest field number present)."""
        return len(self._msg._fields_of(self.index)) - 1

    def field(self, n: int) -> str:
        """Field ``n`` as ER7 text ("" when absent)."""
        f = self._msg._fields_of(self.index)
        return f[n] if 0 <= n < len(f) else ""

    def raw(
        self, field: int, rep: int | None = None, comp: int | None = None, sub: int | None = None
    ) -> str:
        """ER7 text of one element ("" when absent)."""
        f = self._msg._fields_of(self.index)
        if not 0 < field < len(f):
            return ""
        if field <= 2 and f[0] in HEADER_SEGMENTS:
            return atomic(f[field], rep, comp, sub, "")
        value = element(f[field], self._msg.delimiters, rep, comp, sub)
        return "" if value is None else value

    def get(self, field: int, rep: int = 1, comp: int = 1, sub: int = 1) -> str:
        """One primitive, unescaped ("" when absent)."""
        msg = self._msg
        f = msg._fields_of(self.index)
        value = leaf(f, field, msg.delimiters, rep, comp, sub)
        if not value:
            return ""
        d = msg.delimiters
        if d.escape in value and (field > 2 or f[0] not in HEADER_SEGMENTS):
            return unescape(value, d, codec=msg.codec)
        return value

    def repetitions(self, field: int) -> list[str]:
        """The repetitions of a field, ER7 text ([] when the field is absent)."""
        f = self._msg._fields_of(self.index)
        if not 0 < field < len(f):
            return []
        return split_level(f[field], self._msg.delimiters.repetition, f[0], field)

    def components(self, field: int, rep: int = 1) -> list[str]:
        """The components of one repetition, ER7 text ([] when absent)."""
        value = self.raw(field, rep) if self._has(field, rep) else None
        if value is None:
            return []
        return split_level(value, self._msg.delimiters.component, self.name, field)

    def subcomponents(self, field: int, rep: int = 1, comp: int = 1) -> list[str]:
        """The sub-components of one component, ER7 text ([] when absent)."""
        if not self._has(field, rep):
            return []
        comps = self.components(field, rep)
        if comp > len(comps):
            return []
        sep = self._msg.delimiters.subcomponent
        return split_level(comps[comp - 1], sep, self.name, field) if sep else [comps[comp - 1]]

    def _has(self, field: int, rep: int) -> bool:
        return 0 < rep <= len(self.repetitions(field))

    def to_text(self) -> str:
        return self._msg._segs[self.index]

    def __repr__(self) -> str:
        return f"<Segment {self.name} #{self.index}>"


__all__ = ["Segment"]
