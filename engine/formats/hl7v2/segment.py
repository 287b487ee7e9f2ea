"""A lazy view on one segment of a parsed message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.formats.hl7v2.elements import copy, split_level

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
        value = self._msg._raw_element(self.index, field, rep, comp, sub)
        return "" if value is None else value

    def get(self, field: int, rep: int = 1, comp: int = 1, sub: int = 1) -> str:
        """One primitive, unescaped ("" when absent). Cost: linear in the element read,
        whatever ``rep`` is (the field is split into repetitions once per message)."""
        return self._msg._primitive(self.index, field, rep, comp, sub) or ""

    def repetitions(self, field: int) -> list[str]:
        """The repetitions of a field, ER7 text ([] when the field is absent); a new list
        (read its length once rather than per repetition)."""
        return copy(self._msg._repetitions(self.index, field))

    def components(self, field: int, rep: int = 1) -> list[str]:
        """The components of one repetition, ER7 text ([] when absent)."""
        value = self._msg._raw_element(self.index, field, rep, None, None)
        if value is None or rep < 1:
            return []
        return split_level(value, self._msg.delimiters.component, self.name, field)

    def subcomponents(self, field: int, rep: int = 1, comp: int = 1) -> list[str]:
        """The sub-components of one component, ER7 text ([] when absent)."""
        value = self._msg._raw_element(self.index, field, rep, comp, None)
        if value is None or rep < 1 or comp < 1:
            return []
        sep = self._msg.delimiters.subcomponent
        return split_level(value, sep, self.name, field) if sep else [value]

    def to_text(self) -> str:
        return self._msg._segs[self.index]

    def __repr__(self) -> str:
        return f"<Segment {self.name} #{self.index}>"


__all__ = ["Segment"]
