"""Test case files: ``mappings/<map>_test.yaml`` and ``tests/routes/*.yaml``.

A file holds ``cases:`` and optional defaults (``map``, ``config``)::

    map: pam_fr_adt_to_fr_core            # map cases: apply this map to the input
    cases:
      - name: A01 admission → Patient + Encounter
        input: samples/hl7v2/adt_a01_admission.hl7      # paths are relative to the repo
        expect:
          output: {json_equals_file: tests/routes/expected/adt_a01_admission.json}

A case without a map is a **route case**: the input goes through intake (the ACK a sender
would get), the router of ``config`` (``routes.yaml`` by default) and each destination's
transform; ``expect`` may check ``ack``, ``state``, ``routes``, ``destinations``,
``no_outputs_from`` and ``outputs`` per destination. A map case checks ``output`` or
``error`` (a substring of the mapping error). ``${VAR:-default}`` works in paths; an input
with ``skip_if_missing: reason`` that does not exist skips the case with that reason.
Files are read with positions: schema problems are diagnostics with file:line:col.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.config.diagnostics import Diagnostic, sort_diagnostics
from engine.config.document import parse_document
from engine.config.validate import report_errors


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class OutputCheck(_Model):
    """Conditions on one output (all given must hold)."""

    json_equals: Any = Field(None, description="The output, parsed as JSON, equals this.")
    json_equals_file: str | None = Field(None, description="... equals this JSON file.")
    json_contains: Any = Field(None, description="Every key and list item given is present.")
    json_contains_file: str | None = Field(None, description="... given in this JSON file.")
    content_equals: str | None = Field(None, description="The body, as text, equals this.")
    content_equals_file: str | None = Field(None, description="The body equals this file.")
    content_type: str | None = Field(None, description="The media type of the output.")
    ignore: tuple[str, ...] = Field(
        ("meta.lastUpdated",),
        description="Key paths left out of JSON comparisons wherever they occur (volatile).",
    )


class Expect(_Model):
    ack: str | None = Field(None, description="MSA-1 of the ACK (AA, AE, AR, CA...).")
    state: Literal["routed", "filtered", "unmatched", "rejected"] | None = None
    routes: tuple[str, ...] | None = Field(None, description="Routes that matched, in order.")
    destinations: tuple[str, ...] | None = Field(None, description="Destinations reached.")
    no_outputs_from: tuple[str, ...] = Field((), description="Destinations not reached.")
    output: OutputCheck | None = Field(None, description="The map's output (map cases).")
    outputs: dict[str, OutputCheck] = Field(default_factory=dict, description="Per destination.")
    error: str | None = Field(None, description="The mapping fails with this text in its error.")


class InputSpec(_Model):
    file: str
    channel: str | None = None
    skip_if_missing: str | None = None


class CaseModel(_Model):
    name: str = Field(min_length=1)
    input: str | InputSpec
    map: str | None = None
    config: str | None = None
    validate_: bool = Field(True, alias="validate")
    skip_if_missing: str | None = None
    expect: Expect


class CaseFileModel(_Model):
    map: str | None = None
    config: str | None = None
    cases: list[CaseModel] = Field(min_length=1)


@dataclass(frozen=True)
class Case:
    """One case, with where it is written and the defaults of its file applied."""

    name: str
    file: str
    line: int
    input: str
    channel: str | None
    skip_if_missing: str | None
    map: str | None
    config: str | None
    validate: bool
    expect: Expect

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class CaseFile:
    path: Path
    cases: tuple[Case, ...]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)


def sibling_map(path: Path) -> str | None:
    """``x`` for ``mappings/x_test.yaml`` (the map a sibling test file is about)."""
    return path.stem[: -len("_test")] if path.stem.endswith("_test") else None


def load_case_file(path: Path, file: str | None = None) -> CaseFile:
    """Read a case file; problems become diagnostics (never raises for bad content)."""
    name = file or str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        diag = Diagnostic(name, 1, 1, "error", "io-error", f"cannot read {name}: {reason}")
        return CaseFile(path, (), (diag,))
    doc = parse_document(text, name, os.environ)
    if doc.data is None and not doc.diagnostics:
        doc.error((), "missing-key", "a case file needs 'cases:'")
    model = None
    if doc.data is not None:
        try:
            model = CaseFileModel.model_validate(doc.data)
        except ValidationError as exc:
            report_errors(doc, exc.errors(), root=CaseFileModel, prefix=())
    cases: list[Case] = []
    if model is not None:
        default_map = model.map or (sibling_map(path) if path.parent.name == "mappings" else None)
        for i, case in enumerate(model.cases):
            spec = case.input if isinstance(case.input, InputSpec) else InputSpec(file=case.input)
            line, _ = doc.position(("cases", i, "name"))
            map_name = case.map if case.config is not None else case.map or default_map
            cases.append(
                Case(
                    name=case.name,
                    file=name,
                    line=line,
                    input=spec.file,
                    channel=spec.channel,
                    skip_if_missing=case.skip_if_missing or spec.skip_if_missing,
                    map=map_name,
                    config=case.config or model.config,
                    validate=case.validate_,
                    expect=case.expect,
                )
            )
    return CaseFile(path, tuple(cases), tuple(sort_diagnostics(doc.diagnostics)))


def is_case_file(path: Path, root: Path) -> bool:
    """``mappings/*_test.yaml`` and ``tests/routes/*.yaml`` under ``root``."""
    try:
        parts = path.resolve().relative_to(root.resolve()).parts
    except ValueError:
        return False
    if path.suffix != ".yaml":
        return False
    if len(parts) == 2 and parts[0] == "mappings":
        return path.stem.endswith("_test")
    return len(parts) == 3 and parts[:2] == ("tests", "routes")


__all__ = [
    "Case",
    "CaseFile",
    "CaseModel",
    "Expect",
    "InputSpec",
    "OutputCheck",
    "is_case_file",
    "load_case_file",
    "sibling_map",
]
