"""Path syntax for reading and writing ER7 values: ``SEG[occ]-field[rep].component.sub``.

Examples: ``PID-3``, ``PID-3[2].4.2`` (repetition 2, component 4, sub-component 2),
``PID-5.1``, ``OBX[2]-5`` (second OBX), ``OBX[*]-5`` (every OBX, for ``get_all``).

* The segment id is three characters, an upper-case letter then letters or digits.
* Every index is 1-based; ``*`` means "all" and is accepted for the segment occurrence
  and the repetition only.
* Field numbers follow HL7: for MSH/BHS/FHS, field 1 is the field separator and field 2
  the encoding characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

ALL = -1
"""Index value standing for ``*``."""

_PATH = re.compile(
    r"(?P<seg>[A-Z][A-Z0-9]{2})(?:\[(?P<occ>[0-9]+|\*)\])?"
    r"-(?P<field>[0-9]+)(?:\[(?P<rep>[0-9]+|\*)\])?"
    r"(?:\.(?P<comp>[0-9]+)(?:\.(?P<sub>[0-9]+))?)?"
)


class InvalidPath(ValueError):
    """The path does not follow the ``SEG[occ]-field[rep].component.sub`` syntax."""


@dataclass(frozen=True, slots=True)
class Path:
    """A parsed path. ``None`` means "not given"; :data:`ALL` means ``*``."""

    segment: str
    occurrence: int | None
    field: int
    repetition: int | None
    component: int | None
    subcomponent: int | None

    @property
    def has_wildcard(self) -> bool:
        return self.occurrence == ALL or self.repetition == ALL

    def __str__(self) -> str:
        out = self.segment
        if self.occurrence is not None:
            out += f"[{'*' if self.occurrence == ALL else self.occurrence}]"
        out += f"-{self.field}"
        if self.repetition is not None:
            out += f"[{'*' if self.repetition == ALL else self.repetition}]"
        if self.component is not None:
            out += f".{self.component}"
        if self.subcomponent is not None:
            out += f".{self.subcomponent}"
        return out


def _index(text: str | None, what: str, path: str) -> int | None:
    if text is None:
        return None
    if text == "*":
        return ALL
    value = int(text)
    if value < 1:
        raise InvalidPath(f"{what} index must be 1 or more in {path!r}")
    return value


@lru_cache(maxsize=2048)
def parse_path(path: str) -> Path:
    """Parse (and cache) a path.

    Raises:
        InvalidPath: the syntax is wrong or an index is 0.
    """
    m = _PATH.fullmatch(path)
    if m is None:
        raise InvalidPath(
            f"invalid HL7v2 path {path!r}: expected SEG[occurrence]-field[repetition].component"
            ".subcomponent, e.g. PID-3[2].4.2"
        )
    field = int(m["field"])
    if field < 1:
        raise InvalidPath(f"field index must be 1 or more in {path!r}")
    return Path(
        segment=m["seg"],
        occurrence=_index(m["occ"], "segment occurrence", path),
        field=field,
        repetition=_index(m["rep"], "repetition", path),
        component=_index(m["comp"], "component", path),
        subcomponent=_index(m["sub"], "sub-component", path),
    )


__all__ = ["ALL", "InvalidPath", "Path", "parse_path"]
