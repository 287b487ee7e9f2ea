"""Value types used in config models: durations and sizes with units, host:port addresses.

Durations are strings with a unit (``"30s"``, ``"500ms"``, ``"2m"``, ``"1h"``) and become
seconds as ``float``; sizes are strings with a unit (``"64KiB"``, ``"1MiB"``, ``"10MB"``)
and become bytes as ``int``. Bare numbers are refused so that no unit is ever implied.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)\s*$")
_SIZE_UNITS = {
    "B": 1,
    "KB": 1000,
    "KiB": 1024,
    "MB": 1000**2,
    "MiB": 1024**2,
    "GB": 1000**3,
    "GiB": 1024**3,
}
_HOSTPORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\s\[\]]+)):(?P<port>\d{1,5})$")


def parse_duration(value: object) -> float:
    """``"30s"`` → 30.0. Raises ValueError for anything without a unit."""
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    raise ValueError(
        f"expected a duration with a unit such as '30s', '500ms' or '2m', got {value!r}"
    )


def parse_size(value: object) -> int:
    """``"1MiB"`` → 1048576. Raises ValueError for anything without a unit."""
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m:
            return int(m.group(1)) * _SIZE_UNITS[m.group(2)]
    raise ValueError(f"expected a size with a unit such as '64KiB' or '1MiB', got {value!r}")


def parse_hostport(value: object) -> tuple[str, int]:
    """``"127.0.0.1:2575"`` → ("127.0.0.1", 2575); ``"[::1]:0"`` → ("::1", 0)."""
    if isinstance(value, str):
        m = _HOSTPORT.match(value.strip())
        if m and int(m.group("port")) <= 65535:
            return (m.group("v6") or m.group("host"), int(m.group("port")))
    raise ValueError(f"expected host:port such as '127.0.0.1:2575', got {value!r}")


def _format_hostport(value: tuple[str, int]) -> str:
    host, port = value
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda v: f"{v:g}s", return_type=str),
    WithJsonSchema({"type": "string", "pattern": _DURATION.pattern, "examples": ["30s", "500ms"]}),
]
ByteSize = Annotated[
    int,
    BeforeValidator(parse_size),
    PlainSerializer(lambda v: f"{v}B", return_type=str),
    WithJsonSchema({"type": "string", "pattern": _SIZE.pattern, "examples": ["1MiB", "64KiB"]}),
]
HostPort = Annotated[
    tuple[str, int],
    BeforeValidator(parse_hostport),
    PlainSerializer(_format_hostport, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["127.0.0.1:2575"]}),
]

__all__ = ["ByteSize", "Duration", "HostPort", "parse_duration", "parse_hostport", "parse_size"]
