"""The evaluation state of one message: the source, the variables and the current item.

One :class:`Context` is created per :meth:`CompiledMap.apply` call and is never shared
between threads. ``each`` saves and restores the item fields around its iterations;
variables live in slots numbered at compile time (names cannot be redefined in an inner
scope, so a slot is never needed twice at the same time).
"""

from __future__ import annotations

from typing import Any


class Rep(str):
    """One repetition of an HL7v2 field (ER7 text, escapes kept), as an ``each`` item."""

    __slots__ = ()


class Context:
    """Per-message state. ``root`` is an HL7v2 Message, an XML element or JSON data.

    Attributes:
        slots: variable values by slot number.
        item: the current ``each`` item (None outside ``each``).
        index: 1-based position of the current item.
        segments: HL7v2 segments being iterated, by segment id.
        group: HL7v2 group bounds ``(start, end, head_id)``: segment indexes of the current
            group's first segment and of the first segment after it, and the id of the
            segment that opens groups of this kind.
        cache: memo for message-level lookups (segment positions, segments).
        decimals: True once a decimal number was produced (for serialisation).
    """

    __slots__ = ("cache", "decimals", "group", "index", "item", "root", "segments", "slots")

    def __init__(self, root: Any, slot_count: int) -> None:
        self.root = root
        self.slots: list[Any] = [None] * slot_count
        self.item: Any = None
        self.index = 0
        self.segments: dict[str, Any] = {}
        self.group: tuple[int, int, str] | None = None
        self.cache: dict[Any, Any] = {}
        self.decimals = False


__all__ = ["Context", "Rep"]
