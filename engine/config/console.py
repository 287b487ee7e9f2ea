"""The ``console:`` section of routes.yaml: where the operator console listens, TLS and
mutual TLS, sessions and the optional OpenID Connect login (see docs/console-api.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from engine.config.types import Duration, HostPort

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
"""Roles, weakest first: each one may do what the ones before it may."""

_FINESS = re.compile(r"^[0-9]{9}$")


def _textual(value: object) -> object:
    """YAML reads an unquoted FINESS as a number: take its digits back (leading zeros
    are lost that way, so such a number must be quoted; the 9-digit check says so)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def check_finess(value: str) -> str:
    """A FINESS number: 9 digits (the tenant tag of channels, destinations and users).

    Raises:
        ValueError: not 9 digits.
    """
    if not _FINESS.match(value):
        raise ValueError(f"{value!r} is not a FINESS number (9 digits, in quotes)")
    return value


Finess = Annotated[
    str,
    BeforeValidator(_textual),
    AfterValidator(check_finess),
    Field(description="FINESS number (9 digits).", examples=["750000001"]),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsoleTls(_Model):
    """TLS of the console listener; mutual TLS when ``client_ca_file`` is set."""

    cert_file: Path = Field(description="Server certificate (PEM, chain allowed).")
    key_file: Path = Field(description="Its private key (PEM).")
    client_ca_file: Path | None = Field(
        None,
        description="CA bundle of the client certificates: when set, every client must "
        "present a certificate it signed (mutual TLS).",
    )


class ConsoleOidc(_Model):
    """OpenID Connect login (authorization code with PKCE): a hospital Keycloak, Pro Santé
    Connect. The provider's discovery document and keys are read from ``issuer``."""

    issuer: str = Field(
        description="Issuer URL (discovery at `/.well-known/openid-configuration`)."
    )
    client_id: str
    client_secret: str | None = Field(
        None, description="Client secret (confidential client), e.g. `${OIDC_SECRET}`."
    )
    redirect_uri: str | None = Field(
        None,
        description="Callback URL registered at the provider; default: "
        "`<console URL>/api/v1/session/oidc/callback`.",
    )
    scopes: tuple[str, ...] = Field(("openid", "profile"), description="Scopes asked.")
    username_claim: str = Field("preferred_username", description="Claim naming the user.")
    role_claim: str = Field("roles", description="Claim holding the user's roles or groups.")
    role_map: dict[str, Role] = Field(
        default_factory=dict,
        description="Claim value -> console role; the strongest mapped role wins; a user "
        "with no mapped role cannot log in.",
        examples=[{"passerelle-admins": "admin", "gradues-ops": "operator"}],
    )
    ca_file: Path | None = Field(
        None, description="CA bundle to trust for the provider's HTTPS (default: the system's)."
    )
    establishments_claim: str | None = Field(
        None,
        description="Claim listing the user's FINESS numbers (absent or empty: no restriction "
        "only when the claim is not configured; configured but empty refuses the login).",
    )


class ConsoleSettings(_Model):
    """The operator console: JSON admin API (`/api/v1`), web pages, metrics."""

    enabled: bool = Field(True, description="Serve the console inside `passerelle run`.")
    listen: HostPort = Field(
        ("127.0.0.1", 8095),
        description="Address of the console (host:port); keep it on loopback unless TLS is on.",
        examples=["127.0.0.1:8095"],
    )
    tls: ConsoleTls | None = Field(None, description="Serve over TLS (and mutual TLS).")
    session_lifetime: Duration = Field(8 * 3600.0, description="Lifetime of a login session.")
    secure_cookies: bool | None = Field(
        None, description="Mark the session cookie Secure; default: when TLS is on."
    )
    oidc: ConsoleOidc | None = Field(None, description="OpenID Connect login.")

    @property
    def cookies_secure(self) -> bool:
        """Whether the session cookie carries ``Secure``."""
        return self.tls is not None if self.secure_cookies is None else self.secure_cookies


__all__ = [
    "ROLES",
    "ConsoleOidc",
    "ConsoleSettings",
    "ConsoleTls",
    "Finess",
    "Role",
    "check_finess",
]
