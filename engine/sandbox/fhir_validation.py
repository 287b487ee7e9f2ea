"""Validation side of the test FHIR platform: R4B models, OperationOutcome, entry errors."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

Resource = dict[str, Any]


class EntryError(Exception):
    """An entry cannot be applied: HTTP ``status`` and an OperationOutcome."""

    def __init__(self, status: int, code: str, text: str, expression: str = "") -> None:
        super().__init__(text)
        self.status, self.code, self.expression = status, code, expression
        self.outcome = outcome(code, text, expression)


def outcome(code: str, text: str, expression: str = "") -> Resource:
    issue: Resource = {"severity": "error", "code": code, "diagnostics": text}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def validate(resource: Any, where: str = "") -> None:
    """Raise EntryError(400) unless ``resource`` is a valid R4B resource."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise EntryError(400, "structure", f"{where}not a FHIR resource")
    kind = resource["resourceType"]
    try:
        model = get_fhir_model_class(kind)
    except (KeyError, ValueError) as exc:
        raise EntryError(400, "not-supported", f"{where}unknown resource type {kind}") from exc
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in (kind, *first["loc"]))
        # like HAPI FHIR, the diagnostics quote the refused value (clients must not log it)
        value = first.get("input")
        quoted = f" (value {value!r})" if isinstance(value, str | int | float) else ""
        text = f"{where}{path}: {first['msg']}{quoted}"
        raise EntryError(400, "invalid", text, path) from exc


def check_shell(bundle: Any) -> str:
    """Validate a Bundle without its resources; return its type (transaction or batch)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise EntryError(400, "structure", "the body of POST [base] must be a Bundle")
    kind = bundle.get("type")
    if kind not in ("transaction", "batch"):
        raise EntryError(400, "invalid", f"Bundle.type {kind!r}: expected transaction or batch")
    entries = bundle.get("entry") or []
    shell = {**bundle, "entry": [{k: v for k, v in e.items() if k != "resource"} for e in entries]}
    validate(shell)
    for i, entry in enumerate(entries):
        request = entry.get("request") or {}
        if not request.get("method") or not request.get("url"):
            raise EntryError(400, "required", f"Bundle.entry[{i}].request: method and url")
    return str(kind)


__all__ = ["EntryError", "check_shell", "outcome", "validate"]
