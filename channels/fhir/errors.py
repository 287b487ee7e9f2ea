"""Failure classification of the ``fhir`` destination.

=============================================  =========================================
what happened                                  outcome
=============================================  =========================================
connection refused/reset, TLS failure,         RetryableDeliveryError
timeouts (connect, read, write, pool)
HTTP 408, 429, every 5xx                       RetryableDeliveryError, ``retry_after``
                                               from Retry-After (seconds or HTTP-date)
HTTP 409 (version conflict: re-read and retry  RetryableDeliveryError
as FHIR advises)
HTTP 401 (after one token refresh when OAuth2  RetryableDeliveryError (credentials are a
is configured)                                 channel problem, not the message's)
any other 4xx (400, 403, 404, 412, 422...)     PermanentDeliveryError (dead letter)
a 3xx (redirects are not followed)             PermanentDeliveryError
=============================================  =========================================

Error texts carry the HTTP status and the server's OperationOutcome reduced to each
issue's severity, code and element paths (``expression``, else ``location``), never its
``diagnostics`` or ``details.text``: servers quote the refused values there, which may be
patient data. The raw answer rides on the exception (``DeliveryError.response``) so the
engine can keep it with the delivery's payloads.
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from engine.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError

MAX_TEXT = 500
_RETRYABLE = frozenset({401, 408, 409, 429})


def is_retryable(status: int) -> bool:
    """True for the statuses worth retrying (see the module table)."""
    return status in _RETRYABLE or status >= 500


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def outcome_text(outcome: Any) -> str:
    """``severity code [expression]`` for each issue of an OperationOutcome (a parsed JSON
    object), joined by ``; ``; "" when it is not one. Free texts are left out (see above)."""
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return ""
    parts: list[str] = []
    for issue in outcome.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        head = " ".join(str(issue[k]) for k in ("severity", "code") if issue.get(k))
        where = issue.get("expression") or issue.get("location") or []
        if isinstance(where, list) and where:
            head += f" [{', '.join(str(w) for w in where[:3])}]"
        parts.append(head)
    return clip("; ".join(p for p in parts if p))


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def body_json(response: httpx.Response) -> Any:
    """The response body as JSON, or None when it is not JSON."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def status_error(response: httpx.Response, what: str) -> DeliveryError:
    """The delivery error for a non-2xx answer to ``what`` (e.g. ``POST transaction``)."""
    status = response.status_code
    reason = response.reason_phrase or ""
    detail = outcome_text(body_json(response))
    text = f"{what}: HTTP {status} {reason}".rstrip() + (f": {detail}" if detail else "")
    raw = response.content or None
    if is_retryable(status):
        wait = retry_after(response.headers.get("Retry-After"))
        return RetryableDeliveryError(text, retry_after=wait, response=raw)
    if 300 <= status < 400:
        where = response.headers.get("Location", "")
        return PermanentDeliveryError(f"{text} (redirect to {where!r} not followed)", response=raw)
    return PermanentDeliveryError(text, response=raw)


def transport_error(exc: httpx.HTTPError, what: str) -> RetryableDeliveryError:
    """A network-level failure (no HTTP answer): always worth retrying."""
    if isinstance(exc, httpx.TimeoutException):
        kind = {
            httpx.ConnectTimeout: "no connection within connect_timeout",
            httpx.ReadTimeout: "no answer within timeout (the server may have applied it)",
            httpx.WriteTimeout: "request not sent within timeout",
            httpx.PoolTimeout: "no free connection in the pool",
        }.get(type(exc), "timed out")
        return RetryableDeliveryError(f"{what}: {kind}")
    cause = exc.__cause__ or exc.__context__
    text = str(exc) or (str(cause) if cause else "") or type(exc).__name__
    return RetryableDeliveryError(f"{what}: connection failed: {clip(text, 200)}")


__all__ = [
    "body_json",
    "clip",
    "is_retryable",
    "outcome_text",
    "retry_after",
    "status_error",
    "transport_error",
]
