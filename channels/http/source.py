"""The ``http`` source: ``POST <path>`` a document, get ``202 {"id": ...}`` after the commit.

Answers (errors are ``application/problem+json``, RFC 9457, with a patient-free detail):

====  ================================================================================
202   committed; body ``{"id": "<message id>"}``, ``Location: /messages/<id>``
400   refused: malformed XML, XML attack (DTD/entities), not a CDA, invalid CDA;
      the refusal is recorded (state ``rejected``) with the reason
404   another path; 405 another method
413   body larger than ``max_size`` (refused from Content-Length, or while reading)
415   media type not in ``accept``
503   the store could not commit (``Retry-After``), or too many connections
====  ================================================================================
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from channels.http.config import HttpSourceConfig
from channels.http.server import AppServer
from channels.mllp.tls import server_context
from engine.components import Intake, Source
from engine.errors import ChannelError, DocumentError
from engine.formats.cda.intake import examine
from engine.registry import source

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
DRAIN_BYTES = 16 * 1024 * 1024
"""After the size limit, up to this much more is read and discarded before the 413."""
_TITLES = {
    "oversize": (413, "Document too large"),
    "attack": (400, "XML attack refused"),
    "malformed": (400, "Malformed XML"),
    "not-cda": (400, "Not a CDA document"),
    "invalid": (400, "Invalid CDA document"),
}


def problem(status: int, title: str, detail: str, kind: str, **headers: str) -> Response:
    """An RFC 9457 problem response; ``kind`` becomes the type ``urn:passerelle:problem:…``."""
    body = {"type": f"urn:passerelle:problem:{kind}", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    return Response(json.dumps(body), status_code=status, media_type=PROBLEM, headers=headers)


class _TooLarge(Exception):
    pass


@source("http", config=HttpSourceConfig)
class HttpSource(Source[HttpSourceConfig]):
    """Documents POSTed over HTTP(S); 202 with the message id once committed."""

    def __init__(self, name: str, config: HttpSourceConfig) -> None:
        super().__init__(name, config)
        self._intake: Intake | None = None
        self._server: AppServer | None = None
        app = Starlette(routes=[Route(config.path, self._post, methods=["POST"])])
        app.add_exception_handler(404, self._not_found)
        app.add_exception_handler(405, self._not_allowed)
        self.app = app

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port), known after :meth:`start`. Raises ChannelError before."""
        if self._server is None:
            raise ChannelError(f"http source {self.name!r} is not started")
        return self._server.address

    def describe(self) -> str:
        host, port = self._server.address if self._server else self.config.listen
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{host}:{port}{self.config.path}"

    async def start(self, intake: Intake) -> None:
        """Bind and serve. Raises ChannelError (address in use, unusable certificate)."""
        self._intake = intake
        context = server_context(self.config.tls) if self.config.tls is not None else None
        host, port = self.config.listen
        server = AppServer(
            self.app, host, port, context, max_connections=self.config.max_connections
        )
        await server.start()
        self._server = server

    async def stop(self) -> None:
        """Stop accepting; requests being committed finish first. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return problem(404, "Not found", f"POST documents to {self.config.path}", "not-found")

    async def _not_allowed(self, request: Request, exc: Exception) -> Response:
        return problem(405, "Method not allowed", "use POST", "method", Allow="POST")

    async def _read(self, request: Request) -> bytes:
        limit = self.config.max_size
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _TooLarge
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit + DRAIN_BYTES:
                raise _TooLarge  # stop reading: the connection will be closed
            if size <= limit:
                chunks.append(chunk)
        if size > limit:  # drained (discarded), so the sender can read the 413
            raise _TooLarge
        return b"".join(chunks)

    async def _post(self, request: Request) -> Response:
        assert self._intake is not None
        cfg = self.config
        peer = f"{request.client.host}:{request.client.port}" if request.client else ""
        extra = {"channel": self.name, "peer": peer}
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media not in cfg.accept:
            return problem(
                415, "Unsupported media type", f"accepted: {', '.join(cfg.accept)}", "media-type"
            )
        try:
            raw = await self._read(request)
        except _TooLarge:
            log.warning("Request refused: body over %d bytes.", cfg.max_size, extra=extra)
            detail = f"the limit is {cfg.max_size} bytes"
            return problem(413, "Document too large", detail, "oversize", Connection="close")
        except ClientDisconnect:
            return Response(status_code=400)
        metadata: Mapping[str, str] = {"peer": peer, "http.content_type": media}
        try:
            facts = examine(raw, format=cfg.format, max_bytes=cfg.max_size, schema=cfg.schema_file)
        except DocumentError as exc:
            return await self._refuse(raw, metadata, exc, extra)
        try:
            envelope = await self._intake.accept(
                self.name, raw, cfg.content_type, {**metadata, **facts}
            )
        except Exception as exc:  # StoreError by contract: nothing was committed
            log.error("Document could not be stored: %s.", type(exc).__name__, extra=extra)
            return problem(
                503,
                "Store unavailable",
                "please resend later",
                "store",
                **{"Retry-After": str(int(cfg.retry_after))},
            )
        log.info("Document committed.", extra={**extra, "message_id": envelope.id})
        return Response(
            json.dumps({"id": envelope.id}),
            status_code=202,
            media_type="application/json",
            headers={"Location": f"/messages/{envelope.id}"},
        )

    async def _refuse(
        self, raw: bytes, metadata: Mapping[str, str], exc: DocumentError, extra: dict[str, str]
    ) -> Response:
        assert self._intake is not None
        status, title = _TITLES.get(exc.kind, (400, "Document refused"))
        try:
            await self._intake.reject(
                self.name, raw[: 64 * 1024], self.config.content_type, metadata, str(exc)
            )
        except Exception as store_exc:
            log.error("Refusal could not be recorded: %s.", type(store_exc).__name__, extra=extra)
        log.warning("Document refused: %s.", str(exc).rstrip("."), extra=extra)
        return problem(status, title, str(exc), exc.kind)


__all__ = ["PROBLEM", "HttpSource", "problem"]
