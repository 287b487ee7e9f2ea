"""Reading payloads and answers of the ``fhir`` destination: Bundles, requests, responses.

A *transaction* is atomic: the server applies every entry or none, so a 2xx answer means
everything was applied. A *batch* is not: each entry succeeds or fails on its own and the
batch-response says which. An error entry inside a 2xx answer therefore means "partly
applied"; the delivery fails as a whole, retryable if some failed entry is (408, 429, 5xx)
— resending the batch re-applies the entries that had succeeded, which must be idempotent
(PUT with an id, conditional update, POST with ifNoneExist) — otherwise dead-lettered with
the failed entries' OperationOutcome text. A transaction-response with an error entry
(a server breaking atomicity) is treated the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from channels.fhir.errors import clip, is_retryable, outcome_text
from engine.components import Payload
from engine.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError

FHIR_JSON = "application/fhir+json"
_JSON_TYPES = frozenset({FHIR_JSON, "application/json", "application/json+fhir"})
MAX_DETAIL = 300


@dataclass(frozen=True, slots=True)
class Request:
    """One REST interaction of ``resources`` mode; ``url`` is relative to the base URL."""

    method: str
    url: str
    resource: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    full_url: str | None = None

    @property
    def label(self) -> str:
        """``PUT Patient``: method and resource type only (URLs may hold identifiers)."""
        kind = self.url.split("?", 1)[0].split("/", 1)[0]
        return f"{self.method} {kind}"


def load(payload: Payload) -> dict[str, Any]:
    """The payload as a FHIR JSON object.

    Raises:
        PermanentDeliveryError: not a JSON media type, not JSON, or not a resource.
    """
    media = payload.content_type.split(";", 1)[0].strip().lower()
    if media not in _JSON_TYPES:
        raise PermanentDeliveryError(
            f"payload is {payload.content_type!r}, not FHIR JSON (is the route's map missing?)"
        )
    try:
        data = json.loads(payload.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PermanentDeliveryError(f"payload is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise PermanentDeliveryError("payload is not a FHIR resource (no resourceType)")
    return data


def bundle_type(resource: dict[str, Any]) -> str:
    """``transaction`` or ``batch``. Raises PermanentDeliveryError for anything else."""
    is_bundle = resource["resourceType"] == "Bundle"
    kind = resource.get("type") if is_bundle else None
    if kind not in ("transaction", "batch"):
        got = f"a Bundle of type {kind!r}" if is_bundle else f"a {resource['resourceType']}"
        raise PermanentDeliveryError(
            f"transaction mode needs a Bundle of type transaction or batch, got {got}"
        )
    return str(kind)


def requests_for(resource: dict[str, Any]) -> list[Request]:
    """The requests of ``resources`` mode: one per Bundle entry, or one for a resource."""
    if resource.get("resourceType") != "Bundle":
        return [_single(resource)]
    out: list[Request] = []
    for i, entry in enumerate(resource.get("entry") or [], start=1):
        req = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(req, dict) or not req.get("method") or not req.get("url"):
            raise PermanentDeliveryError(f"Bundle entry {i} has no request method and url")
        headers = {
            header: str(req[key])
            for key, header in (
                ("ifNoneExist", "If-None-Exist"),
                ("ifMatch", "If-Match"),
                ("ifNoneMatch", "If-None-Match"),
                ("ifModifiedSince", "If-Modified-Since"),
            )
            if req.get(key)
        }
        body = entry.get("resource")
        out.append(
            Request(
                str(req["method"]).upper(),
                str(req["url"]).lstrip("/"),
                body if isinstance(body, dict) else None,
                headers,
                entry.get("fullUrl"),
            )
        )
    return out


def _single(resource: dict[str, Any]) -> Request:
    kind = resource["resourceType"]
    if resource.get("id"):
        return Request("PUT", f"{kind}/{resource['id']}", resource)
    for ident in resource.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
            token = quote(f"{ident['system']}|{ident['value']}", safe="")
            return Request("PUT", f"{kind}?identifier={token}", resource)
    return Request("POST", kind, resource)


def rewrite_references(node: Any, resolved: dict[str, str]) -> Any:
    """Copy of ``node`` with every ``reference`` naming a key of ``resolved`` replaced."""
    if isinstance(node, dict):
        return {
            k: (
                resolved.get(v, v)
                if k == "reference" and isinstance(v, str)
                else rewrite_references(v, resolved)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [rewrite_references(v, resolved) for v in node]
    return node


def short_location(location: str) -> str:
    """``Patient/12`` from ``https://x/fhir/Patient/12/_history/3`` (or the text itself)."""
    parts = location.split("/_history/", 1)[0].rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else location


def summarise(items: list[str]) -> str:
    """``201 Patient/1, 200 Encounter/2`` clipped to a short detail."""
    shown = ", ".join(items[:10]) + (f", +{len(items) - 10} more" if len(items) > 10 else "")
    return clip(shown or "no entries", MAX_DETAIL)


def read_response(sent: str, answer: Any, raw: bytes | None = None) -> str:
    """The detail of a 2xx answer to a transaction or batch; raises for error entries
    (``raw``, the answer's bytes, rides on the exception as its ``response``).

    Raises:
        RetryableDeliveryError / PermanentDeliveryError: see the module docstring.
    """
    expected = f"{sent}-response"
    if not isinstance(answer, dict) or answer.get("type") != expected:
        return f"accepted (no {expected} Bundle in the answer)"
    items: list[str] = []
    failed: list[tuple[int, int, str]] = []
    entries = [e for e in answer.get("entry") or [] if isinstance(e, dict)]
    for i, entry in enumerate(entries, start=1):
        raw = entry.get("response")
        response: dict[str, Any] = raw if isinstance(raw, dict) else {}
        status_text = str(response.get("status", "")).strip()
        code = int(status_text[:3]) if status_text[:3].isdigit() else 0
        if 200 <= code < 300:
            location = response.get("location")
            items.append(f"{code} {short_location(location)}" if location else str(code))
        else:
            failed.append((i, code, outcome_text(response.get("outcome"))))
    if failed:
        raise _entry_failure(sent, failed, len(entries), raw)
    return summarise(items)


def _entry_failure(
    sent: str, failed: list[tuple[int, int, str]], total: int, raw: bytes | None
) -> DeliveryError:
    applied = total - len(failed)
    texts = "; ".join(
        f"entry {i}: HTTP {code or '?'}" + (f": {t}" if t else "") for i, code, t in failed
    )
    head = f"{sent}: {len(failed)} of {total} entries failed ({applied} applied)"
    message = clip(f"{head}: {texts}")
    if any(code == 0 or is_retryable(code) for _, code, _ in failed):
        return RetryableDeliveryError(message, response=raw)
    return PermanentDeliveryError(message, response=raw)


__all__ = [
    "FHIR_JSON",
    "Request",
    "bundle_type",
    "load",
    "read_response",
    "requests_for",
    "rewrite_references",
    "short_location",
    "summarise",
]
