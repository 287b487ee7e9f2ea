"""Config models of the ``fhir`` destination: server, mode, timeouts, OAuth2, TLS, pool.

Secrets are references in ``routes.yaml`` (``client_secret: ${PLATFORM_SECRET}``): the
config loader replaces them from the environment, and the model keeps the value as a
``SecretStr`` so it never appears in a repr, a log or a dumped config. Certificate paths
are checked when the destination opens (ChannelError), not at validation, so a config can
be linted on another machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator

from engine.components import ComponentConfig
from engine.config.types import Duration


class OAuth2Config(ComponentConfig):
    """OAuth2 client credentials grant (RFC 6749 §4.4): one token, reused until it expires."""

    token_url: AnyHttpUrl = Field(
        description="Token endpoint of the authorisation server.",
        examples=["https://auth.grades.example/oauth2/token"],
    )
    client_id: str = Field(
        min_length=1, description="Client id given by the platform.", examples=["chu-exemple"]
    )
    client_secret: SecretStr = Field(
        description="Client secret: write a ${VAR} reference, never the value.",
        examples=["${PLATFORM_CLIENT_SECRET}"],
    )
    scope: str | None = Field(
        default=None,
        description="Space-separated scopes requested, if the platform wants any.",
        examples=["system/*.write"],
    )
    client_auth: Literal["basic", "post"] = Field(
        default="basic",
        description=(
            "How the client authenticates to the token endpoint: HTTP Basic "
            "(client_secret_basic) or form fields (client_secret_post)."
        ),
        examples=["basic"],
    )
    refresh_margin: Duration = Field(
        default="30s",
        validate_default=True,
        ge=0,
        description="Fetch a new token this long before the current one expires.",
        examples=["30s"],
    )


class FhirTlsConfig(ComponentConfig):
    """TLS settings; ``cert_file`` and ``key_file`` make it mutual TLS."""

    ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle that verifies the server; the system store when unset.",
        examples=["/etc/passerelle/tls/platform-ca.crt"],
    )
    cert_file: Path | None = Field(
        default=None,
        description="PEM client certificate presented to the server (mutual TLS).",
        examples=["/etc/passerelle/tls/client.crt"],
    )
    key_file: Path | None = Field(
        default=None,
        description="PEM private key of the client certificate.",
        examples=["/etc/passerelle/tls/client.key"],
    )

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> FhirTlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be set together")
        return self


class FhirDestinationConfig(ComponentConfig):
    """A FHIR R4 server (coordination platform): transaction Bundles or resource by resource."""

    base_url: AnyHttpUrl = Field(
        description="FHIR base URL; transactions are POSTed to it.",
        examples=["https://fhir.grades.example/fhir", "http://127.0.0.1:8080/fhir"],
    )
    mode: Literal["transaction", "resources"] = Field(
        default="transaction",
        description=(
            "`transaction`: POST the payload Bundle (transaction or batch) to the base URL. "
            "`resources`: send each entry (or the single resource) as its own request: the "
            "entry's request (PUT with id, conditional update, POST with ifNoneExist), or "
            "for a bare resource PUT [type]/[id], else a conditional update on its first "
            "identifier, else POST."
        ),
        examples=["transaction"],
    )
    connect_timeout: Duration = Field(
        default="10s",
        validate_default=True,
        gt=0,
        description="Time allowed to open the connection (TCP and TLS).",
        examples=["10s"],
    )
    timeout: Duration = Field(
        default="30s",
        validate_default=True,
        gt=0,
        description="Time allowed for each read and write of a request.",
        examples=["30s", "2m"],
    )
    max_connections: int = Field(
        default=10, ge=1, description="Most connections open to the server.", examples=[10]
    )
    max_keepalive: int = Field(
        default=5, ge=0, description="Idle connections kept open for reuse.", examples=[5]
    )
    keepalive_expiry: Duration = Field(
        default="30s",
        validate_default=True,
        ge=0,
        description="Close an idle kept-alive connection after this long.",
        examples=["30s"],
    )
    auth: OAuth2Config | None = Field(
        default=None,
        description="OAuth2 client credentials; omitted means no bearer token.",
        examples=[
            {
                "token_url": "https://auth.grades.example/oauth2/token",
                "client_id": "chu-exemple",
                "client_secret": "${PLATFORM_CLIENT_SECRET}",
            }
        ],
    )
    tls: FhirTlsConfig | None = Field(
        default=None,
        description="TLS trust and client certificate (mutual TLS) for https URLs.",
        examples=[{"ca_file": "platform-ca.crt", "cert_file": "c.crt", "key_file": "c.key"}],
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Extra HTTP headers sent with every FHIR request (not to the token URL).",
        examples=[{"X-Platform-Tenant": "chu-exemple"}],
    )

    @field_validator("headers")
    @classmethod
    def _no_reserved_headers(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = {"authorization", "content-type", "host", "content-length"}
        clash = sorted(k for k in value if k.lower() in reserved)
        if clash:
            raise ValueError(f"headers set by the destination cannot be overridden: {clash}")
        return value

    @property
    def base(self) -> str:
        """The base URL without a trailing slash."""
        return str(self.base_url).rstrip("/")


__all__ = ["FhirDestinationConfig", "FhirTlsConfig", "OAuth2Config"]
