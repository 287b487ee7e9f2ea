"""RFC 9457 problem documents: every error of the admin API, without patient data."""

from __future__ import annotations

from http import HTTPStatus

from starlette.responses import JSONResponse

PROBLEM_TYPE = "application/problem+json"


class Problem(Exception):
    """An error answer. ``detail`` names ids and codes only, never message content."""

    def __init__(self, status: int, detail: str = "", *, title: str | None = None) -> None:
        super().__init__(detail or HTTPStatus(status).phrase)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase

    def response(self) -> JSONResponse:
        slug = self.title.lower().replace(" ", "-").replace("'", "")
        body = {
            "type": f"https://passerelle.invalid/problems/{slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        headers = {"WWW-Authenticate": 'Bearer realm="passerelle"'} if self.status == 401 else None
        return JSONResponse(body, status_code=self.status, media_type=PROBLEM_TYPE, headers=headers)


def unauthenticated(detail: str = "log in or give an API token") -> Problem:
    return Problem(401, detail)


def forbidden(detail: str) -> Problem:
    return Problem(403, detail)


def not_found(what: str) -> Problem:
    """404 for absent objects and for objects outside the caller's establishments alike."""
    return Problem(404, f"no {what}")


def bad_request(detail: str) -> Problem:
    return Problem(400, detail)


def conflict(detail: str) -> Problem:
    return Problem(409, detail)


__all__ = [
    "PROBLEM_TYPE",
    "Problem",
    "bad_request",
    "conflict",
    "forbidden",
    "not_found",
    "unauthenticated",
]
