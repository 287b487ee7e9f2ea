"""HL7v2 dates and times (DTM/TS) to FHIR ``date``, ``dateTime`` and ``instant``.

HL7: ``YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]``. FHIR wants ``YYYY-MM-DDThh:mm:ss`` with a
time-zone offset whenever there is a time, so:

* a time without seconds gets ``:00`` (and ``hh`` alone gets ``:00:00``);
* a time without an offset gets the offset of the map's time zone (``timezone:`` in the map,
  ``Europe/Paris`` by default) *on that date*, so summer and winter time are right;
* a date alone stays a date (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``).

Zones come from the system's tz database; ``Europe/Paris`` also works without it (EU rule:
UTC+1, UTC+2 from the last Sunday of March to the last Sunday of October, 01:00 UTC).
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.mapping.functions import builtin
from engine.mapping.values import FunctionFailure

_TS = re.compile(
    r"(?P<y>[0-9]{4})(?P<mo>[0-9]{2})?(?P<d>[0-9]{2})?(?P<h>[0-9]{2})?(?P<mi>[0-9]{2})?"
    r"(?P<s>[0-9]{2})?(?P<f>\.[0-9]{1,9})?(?P<z>[+-][0-9]{4})?"
)
DEFAULT_ZONE = "Europe/Paris"
_INVALID = "not a valid HL7 date/time"


class EuropeanZone(tzinfo):
    """UTC+``base`` hours, one more in EU summer time (the rule since 1996)."""

    def __init__(self, base: int = 1) -> None:
        self.base = timedelta(hours=base)

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return self.base + self.dst(dt)

    def dst(self, dt: datetime | None) -> timedelta:
        if dt is None:
            return timedelta(0)
        # Wall-clock times of the changes: 01:00 UTC seen in winter / summer time.
        start = _last_sunday(dt.year, 3) + timedelta(hours=1) + self.base
        end = _last_sunday(dt.year, 10) + timedelta(hours=1) + self.base + timedelta(hours=1)
        wall = dt.replace(tzinfo=None)
        hour = timedelta(hours=1)
        # PEP 495: a time that does not exist (spring gap) or occurs twice (autumn) takes the
        # offset before the change when fold is 0, the one after when fold is 1.
        if start <= wall < start + hour:
            summer = dt.fold == 1
        elif end - hour <= wall < end:
            summer = dt.fold == 0
        else:
            summer = start <= wall < end
        return hour if summer else timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "CEST" if self.dst(dt) else "CET"


def _last_sunday(year: int, month: int) -> datetime:
    last = calendar.monthrange(year, month)[1]
    day = datetime(year, month, last)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def resolve_zone(name: str) -> tzinfo:
    """The time zone called ``name`` (IANA name or ``UTC``).

    Raises:
        ValueError: unknown zone.
    """
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        if name in ("Europe/Paris", "CET"):
            return EuropeanZone(1)
        raise ValueError(f"unknown time zone {name!r}") from exc


def _parts(value: str) -> re.Match[str] | None:
    m = _TS.fullmatch(value.strip())
    if m is None:
        return None
    try:
        year = int(m["y"])
        month = int(m["mo"] or 1)
        day = int(m["d"] or 1)
        datetime(year, month, day, int(m["h"] or 0), int(m["mi"] or 0), int(m["s"] or 0))
    except ValueError:
        return None
    if m["z"] and (int(m["z"][1:3]) > 14 or int(m["z"][3:]) > 59):
        return None
    return m


def _date(m: re.Match[str]) -> str:
    return "-".join(p for p in (m["y"], m["mo"], m["d"]) if p)


def _offset(m: re.Match[str], zone: tzinfo) -> str:
    if m["z"]:
        return f"{m['z'][:3]}:{m['z'][3:]}"
    local = datetime(int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"]), int(m["mi"] or 0))
    delta = zone.utcoffset(local) or timedelta(0)
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _datetime(m: re.Match[str], zone: tzinfo) -> str:
    time = f"{m['h']}:{m['mi'] or '00'}:{m['s'] or '00'}{m['f'] or ''}"
    return f"{_date(m)}T{time}{_offset(m, zone)}"


@builtin("hl7_date", "value: text")
def hl7_date(value: str) -> str:
    """An HL7 date or date/time as a FHIR ``date`` (the time, if any, is dropped)."""
    if not value:
        return ""
    m = _parts(value)
    if m is None:
        raise FunctionFailure(_INVALID)
    return _date(m)


@builtin("hl7_datetime", "value: text, zone?: zone")
def hl7_datetime(value: str, zone: tzinfo | None = None) -> str:
    """An HL7 date/time as a FHIR ``dateTime``, with the offset of ``zone`` when it has none."""
    if not value:
        return ""
    m = _parts(value)
    if m is None or (m["h"] and not m["d"]):
        raise FunctionFailure(_INVALID)
    if not m["h"]:
        return _date(m)
    return _datetime(m, zone or resolve_zone(DEFAULT_ZONE))


@builtin("hl7_instant", "value: text, zone?: zone")
def hl7_instant(value: str, zone: tzinfo | None = None) -> str:
    """An HL7 date/time as a FHIR ``instant``; it needs at least the hour."""
    if not value:
        return ""
    m = _parts(value)
    if m is None:
        raise FunctionFailure(_INVALID)
    if not (m["d"] and m["h"]):
        raise FunctionFailure("an instant needs a date and a time (at least the hour)")
    return _datetime(m, zone or resolve_zone(DEFAULT_ZONE))


_UTC_TS = re.compile(r"^((?:[0-9]{2}){2,7})(?:\.[0-9]+)?(?:([+-])([0-9]{2})([0-9]{2}))?$")


@builtin("hl7_utc", "value: text")
def hl7_utc(value: str) -> str:
    """An HL7 date/time as an XDS ``DTM`` in UTC (``20191203133000+0100`` → ``20191203123000``).

    The precision is kept; a value without an offset, or without the hour, is returned as
    its digits (it cannot be converted).
    """
    if not value:
        return ""
    m = _UTC_TS.match(value.strip())
    if m is None:
        raise FunctionFailure(_INVALID)
    digits, sign, hours, minutes = m.groups()
    if sign is None or len(digits) < 10:
        return digits
    padded = (digits + "0101000000"[len(digits) - 4 :])[:14] if len(digits) < 14 else digits
    try:
        local = datetime.strptime(padded, "%Y%m%d%H%M%S")
    except ValueError:
        raise FunctionFailure(_INVALID) from None
    offset = timedelta(hours=int(hours), minutes=int(minutes)) * (1 if sign == "+" else -1)
    return (local - offset).strftime("%Y%m%d%H%M%S")[: len(digits)]


__all__ = ["DEFAULT_ZONE", "EuropeanZone", "resolve_zone"]
