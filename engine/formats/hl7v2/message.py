"""A parsed ER7 message: lazy, path-addressable, byte-exact.

Segments are split once by :func:`engine.formats.hl7v2.parse`; a segment's fields are split
(and cached) the first time it is read; repetitions, components and sub-components are
split on demand and never materialised as objects.

Reading (see :mod:`engine.formats.hl7v2.path` for the syntax):

* :meth:`Message.raw` returns the ER7 text of the element the path names (a path that stops
  at a field names the whole field, every repetition), escapes kept.
* :meth:`Message.get` returns the first primitive inside that element, unescaped (an index
  not given is 1: ``PID-5`` reads ``PID-5[1].1.1``, as HAPI's Terser does).
* :meth:`Message.get_all` returns that primitive for every occurrence and every repetition
  unless the path pins them.
* An absent segment or element yields the default (``""``); present-but-empty yields ``""``.
* MSH-1/MSH-2 (and BHS/FHS) are atomic: returned verbatim, never split or unescaped.

Writing: :meth:`Message.set` changes one element; the other bytes are untouched and the
message is re-emitted with its own segment terminators (CR, LF or CRLF, as received).
Setting MSH-18 transcodes: :meth:`Message.to_bytes` then encodes in the new charset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar, overload

from engine.errors import ParseError
from engine.formats.hl7v2.charsets import codec_for
from engine.formats.hl7v2.elements import ElementIndex, check_raw, replace_element, split
from engine.formats.hl7v2.escape import escape, unescape
from engine.formats.hl7v2.header import HEADER_SEGMENTS, Delimiters, Header
from engine.formats.hl7v2.path import ALL, InvalidPath, Path, parse_path
from engine.formats.hl7v2.segment import Segment

T = TypeVar("T")


class Message:
    """One ER7 message. Build it with :func:`engine.formats.hl7v2.parse`.

    Attributes:
        delimiters: the separators from MSH-1/MSH-2.
        codec: the Python codec the message was decoded with (from MSH-18 or the default).
    """

    __slots__ = (
        "_bom",
        "_changed",
        "_elements",
        "_fields",
        "_index",
        "_order",
        "_raw",
        "_segs",
        "_terms",
        "codec",
        "delimiters",
    )

    def __init__(
        self,
        raw: bytes,
        bom: bytes,
        segments: list[str],
        terminators: str | list[str],
        delimiters: Delimiters,
        codec: str,
    ) -> None:
        self._raw = raw
        self._bom = bom
        self._segs = segments
        self._terms = terminators
        self._fields: list[list[str] | None] = [None] * len(segments)
        self._index: dict[str, list[int]] | None = None
        self._order: list[int] | None = None
        self._changed = False
        self._elements = ElementIndex()
        self.delimiters = delimiters
        self.codec = codec

    # -- structure ---------------------------------------------------------------------

    def _build_index(self) -> dict[str, list[int]]:
        idx: dict[str, list[int]] = {}
        order: list[int] = []
        fs = self.delimiters.field
        for i, s in enumerate(self._segs):
            name = s[:3] if s[3:4] == fs else s.split(fs, 1)[0]
            if name.strip():
                idx.setdefault(name, []).append(i)
                order.append(i)
        self._index, self._order = idx, order
        return idx

    def _locate(self, name: str, occurrence: int) -> int:
        idx = self._index if self._index is not None else self._build_index()
        hits = idx.get(name)
        return hits[occurrence - 1] if hits and occurrence <= len(hits) else -1

    def _fields_of(self, i: int) -> list[str]:
        f = self._fields[i]
        if f is None:
            fs = self.delimiters.field
            f = split(self._segs[i], fs)
            if f[0] in HEADER_SEGMENTS:
                f.insert(1, fs)
            self._fields[i] = f
        return f

    def segments(self, name: str | None = None) -> list[Segment]:
        """Segments in message order, all of them or those with id ``name``.

        Blank lines (empty or whitespace-only segments) are kept for :meth:`to_bytes` but
        are not segments.
        """
        idx = self._index if self._index is not None else self._build_index()
        indices = (self._order or []) if name is None else idx.get(name, [])
        return [Segment(self, i) for i in indices]

    def segment(self, name: str, occurrence: int = 1) -> Segment | None:
        """The ``occurrence``-th (1-based) segment with id ``name``, or None."""
        i = self._locate(name, occurrence)
        return Segment(self, i) if i >= 0 else None

    @property
    def segment_ids(self) -> list[str]:
        """Segment ids in message order."""
        return [s.name for s in self.segments()]

    def __len__(self) -> int:
        if self._order is None:
            self._build_index()
        return len(self._order or [])

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments())

    @property
    def header(self) -> Header:
        """The first segment (MSH, or BHS/FHS) as a :class:`Header` (values raw, escaped)."""
        f = self._fields_of(0)
        return Header(self.delimiters, ("", *f[1:]), self.codec)

    @property
    def terminator(self) -> str:
        """The segment terminator used after the first segment (CR when there is none)."""
        t = self._terms
        return t if isinstance(t, str) else (t[0] if t else "\r")

    # -- reading -----------------------------------------------------------------------

    @overload
    def get(self, path: str) -> str: ...
    @overload
    def get(self, path: str, default: T) -> str | T: ...

    def get(self, path: str, default: object = "") -> object:
        """The first primitive of the element ``path`` names, unescaped, or ``default``.

        Raises:
            InvalidPath: bad syntax, or a ``*`` (use :meth:`get_all`).
        """
        p, i = self._single(path)
        if i < 0:
            return default
        rep, comp, sub = p.repetition or 1, p.component or 1, p.subcomponent or 1
        value = self._primitive(i, p.field, rep, comp, sub)
        return default if value is None else value

    def _primitive(self, i: int, field: int, rep: int, comp: int, sub: int) -> str | None:
        """One primitive of segment ``i``, unescaped (None when absent)."""
        f = self._fields_of(i)
        d = self.delimiters
        value = self._elements.element(i, f, field, d, rep, comp, sub)
        if value and d.escape in value and (field > 2 or f[0] not in HEADER_SEGMENTS):
            return unescape(value, d, codec=self.codec)
        return value

    def _raw_element(
        self, i: int, field: int, rep: int | None, comp: int | None, sub: int | None
    ) -> str | None:
        """The ER7 text of one element of segment ``i`` (None when absent)."""
        return self._elements.element(i, self._fields_of(i), field, self.delimiters, rep, comp, sub)

    def _repetitions(self, i: int, field: int) -> list[str]:
        """The repetitions of one field of segment ``i`` (shared: do not modify)."""
        return self._elements.repetitions(i, self._fields_of(i), field, self.delimiters)

    def _single(self, path: str) -> tuple[Path, int]:
        """The parsed path and the index of the one segment it names (-1: absent).

        Raises:
            InvalidPath: bad syntax, or a ``*`` (use :meth:`get_all`).
        """
        p = parse_path(path)
        if p.has_wildcard:
            raise InvalidPath(f"{path!r} has a '*': use get_all()")
        return p, self._locate(p.segment, p.occurrence or 1)

    def raw(self, path: str, default: str = "") -> str:
        """The ER7 text (escapes kept) of the element ``path`` names, or ``default``."""
        p, i = self._single(path)
        if i < 0:
            return default
        value = self._raw_element(i, p.field, p.repetition, p.component, p.subcomponent)
        return default if value is None else value

    def get_all(self, path: str) -> list[str]:
        """The unescaped first primitive for every segment occurrence and repetition.

        An occurrence or repetition given in the path pins it; otherwise (or with ``*``)
        all are read. Absent elements are skipped, present-but-empty ones give ``""``.
        """
        p = parse_path(path)
        idx = self._index if self._index is not None else self._build_index()
        hits = idx.get(p.segment, [])
        if p.occurrence not in (None, ALL):
            hits = hits[p.occurrence - 1 : p.occurrence] if p.occurrence else []
        comp, sub = p.component or 1, p.subcomponent or 1
        out: list[str] = []
        for i in hits:
            if p.repetition in (None, ALL):
                reps = range(1, len(self._repetitions(i, p.field)) + 1)
            else:
                reps = range(p.repetition, p.repetition + 1)
            for rep in reps:
                value = self._primitive(i, p.field, rep, comp, sub)
                if value is not None:
                    out.append(value)
        return out

    # -- writing -----------------------------------------------------------------------

    def set(self, path: str, value: str, *, escape_value: bool = True) -> None:
        """Replace the element ``path`` names; everything else is kept byte for byte.

        Args:
            path: a path without ``*``. A path that stops at a field replaces the whole
                field (every repetition).
            value: the new value; escaped unless ``escape_value`` is False, in which case it
                is ER7 text and must not contain delimiters above the element's level.
            escape_value: escape the delimiters and CR/LF in ``value``.

        Raises:
            InvalidPath: bad syntax or ``*``.
            KeyError: the segment occurrence does not exist.
            ValueError: MSH-1/MSH-2 targeted, raw value with forbidden delimiters, a
                character the message's charset cannot encode, or an MSH-18 naming a charset
                that is unsupported or cannot encode the message (the message is unchanged).
        """
        p = parse_path(path)
        if p.has_wildcard:
            raise InvalidPath(f"{path!r} has a '*': set() writes one element")
        i = self._locate(p.segment, p.occurrence or 1)
        if i < 0:
            raise KeyError(f"no {p.segment} segment occurrence {p.occurrence or 1}")
        f = self._fields_of(i)
        if p.field <= 2 and f[0] in HEADER_SEGMENTS:
            raise ValueError(f"{f[0]}-1 and {f[0]}-2 hold the delimiters and cannot be set")
        d = self.delimiters
        text = escape(value, d) if escape_value else value
        check_raw(text, d, p.repetition, p.component, p.subcomponent)
        try:
            text.encode(self.codec)
        except UnicodeEncodeError as exc:
            msg = f"value not representable in the message charset {self.codec}"
            raise ValueError(msg) from exc
        self._elements.clear()
        old_fields, old_segment = list(f), self._segs[i]
        while len(f) <= p.field:
            f.append("")
        f[p.field] = replace_element(f[p.field], d, p.repetition, p.component, p.subcomponent, text)
        self._segs[i] = d.field.join([f[0], *f[2:]] if f[0] in HEADER_SEGMENTS else f)
        if i == 0 and p.field == 18 and f[0] == "MSH":
            try:
                self._transcode(f[18])
            except ValueError:
                f[:] = old_fields
                self._segs[i] = old_segment
                raise
        self._changed = True

    def _transcode(self, msh18: str) -> None:
        """Adopt the codec a new MSH-18 names, if the whole message can be encoded in it."""
        first = unescape(msh18.split(self.delimiters.repetition, 1)[0], self.delimiters)
        try:
            codec = codec_for(first, self.codec)
            self.to_text().encode(codec)
        except (ParseError, UnicodeEncodeError) as exc:
            raise ValueError(f"cannot re-encode the message for MSH-18 {first!r}") from exc
        self.codec = codec

    # -- output ------------------------------------------------------------------------

    def to_text(self) -> str:
        """The message text (no BOM), with its own segment terminators."""
        t = self._terms
        if isinstance(t, str):
            return t.join(self._segs)
        parts: list[str] = []
        for seg, term in zip(self._segs, [*t, ""], strict=True):
            parts.append(seg)
            parts.append(term)
        return "".join(parts)

    def to_bytes(self) -> bytes:
        """The original bytes when nothing was set; otherwise the re-encoded message."""
        if not self._changed:
            return self._raw
        return self._bom + self.to_text().encode(self.codec)

    def __repr__(self) -> str:
        h = self.header
        return f"<Message {h.field(9)!r} control_id={h.safe_control_id!r} segments={len(self)}>"


__all__ = ["Message"]
