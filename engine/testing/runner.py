"""Runs test cases: map cases (input → map → output) and route cases (input → ACK →
router → each destination's transform), as ``passerelle test`` and pytest do.

Nothing is sent anywhere: a route case stops where a destination would receive its
payload. The ACK is the one :func:`engine.intake.hl7v2.examine` decides with the channel's
own options, i.e. what the sender would get; the router then sees the facts the pipeline
adds before routing (:func:`engine.intake.hl7v2.review_after_ack`), as in the engine.
Maps and configurations are compiled once per runner. Paths in cases are relative to
``root`` (the repository).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from engine.config.diagnostics import render
from engine.errors import ConfigError, MappingError, ParseError
from engine.formats.hl7v2 import parse, read_header
from engine.intake.hl7v2 import Hl7IntakeOptions, Verdict, examine, review_after_ack
from engine.mapping.loader import compile_map
from engine.mapping.runtime import CompiledMap
from engine.message import HL7V2, Envelope
from engine.pipeline import Transform, raw_payload
from engine.testing.cases import Case, CaseFile, Expect, is_case_file, load_case_file
from engine.testing.conditions import check_output
from engine.testing.frcore import frcore_problems

Status = Literal["passed", "failed", "skipped"]
_CONTENT_TYPES = {"hl7v2": HL7V2, "cda": "application/xml", "json": "application/json"}


@dataclass(frozen=True)
class CaseResult:
    case: Case
    status: Status
    messages: tuple[str, ...] = ()

    def describe(self) -> str:
        """``FAIL file:line name`` and the indented reasons."""
        head = f"{self.status.upper()[:4]:<4} {self.case.where} {self.case.name}"
        body = ["    " + line for m in self.messages for line in m.splitlines()]
        return "\n".join([head, *body])


@dataclass
class _Routing:
    config: Any
    router: Any
    transforms: dict[str, Transform]


def ack_code(ack: bytes | None) -> str:
    """MSA-1 of an ACK, ``none`` when there is no ACK."""
    if ack is None:
        return "none"
    try:
        return str(parse(ack).get("MSA-1"))
    except ParseError:
        return "?"


def intake_options(channel_config: Any) -> Hl7IntakeOptions:
    """The intake options a channel applies (its ``hl7`` settings and default charset)."""
    codec = getattr(channel_config, "default_codec", "utf-8")
    hl7 = getattr(channel_config, "hl7", None)
    if hl7 is not None and hasattr(hl7, "options"):
        options: Hl7IntakeOptions = hl7.options(codec)
        return options
    return Hl7IntakeOptions(default_codec=codec)


class Runner:
    """Runs cases against the repository at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._maps: dict[Path, CompiledMap | str] = {}
        self._routings: dict[Path, _Routing | str] = {}

    def path(self, name: str) -> Path:
        p = Path(name)
        return p if p.is_absolute() else self.root / p

    # -- discovery ------------------------------------------------------------------------

    def discover(self, paths: Iterable[Path] = ()) -> list[Path]:
        """Case files under ``paths`` (default: ``mappings/`` and ``tests/routes/``)."""
        roots = list(paths) or [self.root / "mappings", self.root / "tests" / "routes"]
        found: list[Path] = []
        for p in roots:
            if p.is_file():
                found.append(p)
            elif p.is_dir():
                found.extend(f for f in sorted(p.rglob("*.yaml")) if is_case_file(f, self.root))
        return found

    def run_files(self, files: Iterable[Path]) -> Iterator[CaseResult | CaseFile]:
        """Each case's result; a case file with errors is yielded itself."""
        for path in files:
            name = os.path.relpath(path, self.root) if path.is_absolute() else str(path)
            case_file = load_case_file(path, name)
            if case_file.has_errors:
                yield case_file
                continue
            for case in case_file.cases:
                yield self.run(case, path)

    # -- one case -------------------------------------------------------------------------

    def run(self, case: Case, case_path: Path) -> CaseResult:
        source = self.path(case.input)
        if not source.is_file():
            if case.skip_if_missing:
                return CaseResult(case, "skipped", (f"{case.skip_if_missing} ({source})",))
            return CaseResult(case, "failed", (f"input {case.input} not found",))
        raw = source.read_bytes()
        if case.map is not None:
            problems = self.map_case(case, case_path, raw)
        else:
            problems = self.route_case(case, raw)
        return CaseResult(case, "failed" if problems else "passed", tuple(problems))

    def compiled(self, case: Case, case_path: Path) -> CompiledMap | str:
        beside = case_path.parent / f"{case.map}.yaml"
        path = beside if beside.is_file() else self.root / "mappings" / f"{case.map}.yaml"
        if path not in self._maps:
            try:
                self._maps[path] = compile_map(path)
            except ConfigError as exc:
                self._maps[path] = f"map {case.map!r} does not compile:\n" + render(exc.diagnostics)
        return self._maps[path]

    def map_case(self, case: Case, case_path: Path, raw: bytes) -> list[str]:
        compiled = self.compiled(case, case_path)
        if isinstance(compiled, str):
            return [compiled]
        metadata: dict[str, str] = {}
        if compiled.source == "hl7v2":
            try:
                metadata = read_header(raw).metadata()
            except ParseError:
                metadata = {}
        envelope = Envelope.new(
            channel="test", raw=raw, content_type=_CONTENT_TYPES[compiled.source], metadata=metadata
        )
        transform = compiled.to_transform(validate=case.validate)
        return self.outputs(
            case.expect, {"output": transform}, envelope, {"output": "output"}, case.validate
        )

    def routing(self, case: Case) -> _Routing | str:
        from engine.assembly import build_router
        from engine.config.loader import load_config
        from engine.mapping.routes import build_transforms

        path = self.path(case.config or "routes.yaml")
        if path not in self._routings:
            try:
                with contextlib.chdir(self.root):  # routes.yaml paths are relative to it
                    config = load_config(path, files=False)  # nothing is sent: no TLS files
                transforms = build_transforms(config, root=self.root)
                self._routings[path] = _Routing(config, build_router(config), transforms)
            except ConfigError as exc:
                text = render(exc.diagnostics) if exc.diagnostics else str(exc)
                self._routings[path] = f"configuration {path} is invalid:\n{text}"
        return self._routings[path]

    def route_case(self, case: Case, raw: bytes) -> list[str]:
        routing = self.routing(case)
        if isinstance(routing, str):
            return [routing]
        channels = routing.config.channels
        channel = case.channel or (next(iter(channels)) if len(channels) == 1 else "")
        if channel not in channels:
            return [f"give the input's channel, one of: {', '.join(channels) or 'none'}"]
        exam = examine(raw, intake_options(channels[channel].config))
        expect, problems = case.expect, []
        code = ack_code(exam.ack())
        if expect.ack is not None and code != expect.ack:
            problems.append(f"ACK {code}, expected {expect.ack} ({exam.reason or 'accepted'})")
        deliveries: dict[str, str] = {}
        if exam.verdict is Verdict.REJECT:
            state = "rejected"
        elif exam.verdict is Verdict.DROP:
            state = "filtered"
        else:
            metadata = {**exam.metadata, **review_after_ack(raw, exam.metadata)}
            envelope = Envelope.new(channel=channel, raw=raw, content_type=HL7V2, metadata=metadata)
            outcome = routing.router.route(envelope)
            state = outcome.state.value
            for destination, route in outcome.deliveries:  # the first route per destination
                deliveries.setdefault(destination, route)
        problems += _routing_problems(expect, state, deliveries)
        if exam.verdict is Verdict.ACCEPT:
            transforms = {d: routing.transforms.get(r, raw_payload) for d, r in deliveries.items()}
            problems += self.outputs(expect, transforms, envelope, deliveries)
        return problems

    def outputs(
        self,
        expect: Expect,
        transforms: dict[str, Transform],
        envelope: Envelope,
        reached: dict[str, str],
        conformance: bool = True,
    ) -> list[str]:
        """Problems with the outputs; each FHIR output must also pass the FR Core check
        (unless a map case says ``validate: false``)."""
        checks = dict(expect.outputs)
        if expect.output is not None:
            checks["output"] = expect.output
        problems: list[str] = []
        failures: list[str] = []
        for destination, transform in transforms.items():
            try:
                payload = transform(envelope)
            except MappingError as exc:
                failures.append(str(exc))
                if expect.error is None:
                    problems.append(f"{destination}: the map failed: {exc}")
                continue
            if conformance:
                problems += frcore_problems(payload.body, payload.content_type, destination)
            check = checks.get(destination)
            if check is not None:
                problems += check_output(
                    check, payload.body, payload.content_type, self.root, destination
                )
        for destination in checks:
            if destination not in reached:
                problems.append(f"{destination}: no output (the destination was not reached)")
        if expect.error is not None and not any(expect.error in f for f in failures):
            found = "; ".join(failures) or "it succeeded"
            problems.append(f"expected a mapping error containing {expect.error!r}: {found}")
        return problems


def _routing_problems(expect: Expect, state: str, deliveries: dict[str, str]) -> list[str]:
    problems: list[str] = []
    if expect.state is not None and state != expect.state:
        problems.append(f"state {state}, expected {expect.state}")
    routes = list(dict.fromkeys(deliveries.values()))
    if expect.routes is not None and routes != list(expect.routes):
        problems.append(f"routes {routes}, expected {list(expect.routes)}")
    destinations = list(deliveries)
    if expect.destinations is not None and sorted(destinations) != sorted(expect.destinations):
        problems.append(f"destinations {destinations}, expected {list(expect.destinations)}")
    for name in expect.no_outputs_from:
        if name in deliveries:
            problems.append(f"{name}: reached, expected no output")
    return problems


__all__ = ["CaseResult", "Runner", "ack_code", "intake_options"]
