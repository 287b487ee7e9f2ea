"""Run-time errors of maps. Messages name the map, the rule and the source; never values."""

from __future__ import annotations

from engine.errors import MappingError


class MapRuntimeError(MappingError):
    """A rule failed on a message.

    Attributes:
        map_name: the map's name.
        rule: the ``rule:`` label around the failing place (``output`` when unlabelled).
        element: where in the map, e.g. ``output.entry[0].resource.birthDate``.
        location: ``file:line:col`` of the expression.
        source: the expression or call that failed, as written in the map (``hl7_date(PID-7)``).
        reason: why, in words free of patient data.
    """

    def __init__(
        self, map_name: str, rule: str, element: str, location: str, source: str, reason: str
    ) -> None:
        super().__init__(
            f"map {map_name!r}, rule {rule!r} ({element}, {location}): {source}: {reason}"
        )
        self.map_name = map_name
        self.rule = rule
        self.element = element
        self.location = location
        self.source = source
        self.reason = reason


class MapNotApplicable(MappingError):
    """The map's top-level ``when`` is false for this message: it produces nothing."""


class InvalidOutput(MappingError):
    """The output failed FHIR validation; ``problems`` lists ``element: reason`` texts."""

    def __init__(self, message: str, problems: tuple[str, ...]) -> None:
        super().__init__(message)
        self.problems = problems


__all__ = ["InvalidOutput", "MapNotApplicable", "MapRuntimeError"]
