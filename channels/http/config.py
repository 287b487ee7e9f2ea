"""Config model of the ``http`` source (documents POSTed over HTTP or HTTPS)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from channels.mllp.config import TlsServerConfig
from engine.components import ComponentConfig
from engine.config.types import ByteSize, Duration, HostPort
from engine.formats.cda import CDA_CONTENT_TYPE

ACCEPTED_TYPES = ("application/cda+xml", "application/hl7-cda+xml", "application/xml", "text/xml")


class HttpSourceConfig(ComponentConfig):
    """An HTTP listener: ``POST <path>`` with a document → 202 and the message id."""

    listen: HostPort = Field(
        description="Address and port to listen on (port 0 picks a free port).",
        examples=["127.0.0.1:8080"],
    )
    path: str = Field(
        default="/documents", description="Path that receives the POST.", examples=["/documents"]
    )
    format: Literal["cda", "xml", "raw"] = Field(
        default="cda",
        description="What is checked before the commit: a CDA R2 document, any XML, or nothing.",
    )
    accept: tuple[str, ...] = Field(
        default=ACCEPTED_TYPES,
        min_length=1,
        description="Request media types accepted (others get 415).",
    )
    content_type: str = Field(
        default=CDA_CONTENT_TYPE,
        description="Content type recorded with each message (route on it).",
    )
    schema_file: Path | None = Field(
        default=None, description="Optional XSD every CDA must pass (else 400)."
    )
    max_size: ByteSize = Field(
        default="20MiB", validate_default=True, gt=0, description="Largest body (else 413)."
    )
    max_connections: int = Field(
        default=100, ge=1, description="Concurrent connections (beyond: 503)."
    )
    retry_after: Duration = Field(
        default="30s",
        validate_default=True,
        gt=0,
        description="Retry-After sent with a 503 when the store is unavailable.",
    )
    tls: TlsServerConfig | None = Field(
        default=None,
        description="Serve HTTPS (and require client certificates with client_ca_file).",
    )

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("path must start with '/'")
        return value


__all__ = ["ACCEPTED_TYPES", "HttpSourceConfig"]
