"""Roles and tenants: who may do what, and on which channels and destinations.

A principal with establishments sees the channels and destinations tagged with one of
them (and the messages of those channels); one without restriction sees everything.
Untagged objects are visible only to unrestricted principals. Out-of-scope objects answer
404, exactly like absent ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.config.console import ROLES, Role
from engine.config.models import Config


def role_rank(role: str) -> int:
    """0 viewer, 1 operator, 2 admin; unknown roles rank below viewer (-1)."""
    return ROLES.index(role) if role in ROLES else -1


def as_role(value: str) -> Role:
    """A stored role as a :data:`Role` (an unknown one reads as ``viewer``)."""
    return ROLES[max(0, role_rank(value))]


def weakest(a: str, b: str) -> Role:
    """The weaker of two roles (a token acts with at most its own role)."""
    return ROLES[max(0, min(role_rank(a), role_rank(b)))]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling.

    Attributes:
        name: the account name.
        role: the effective role (a token's role capped by its account's).
        establishments: FINESS numbers the caller is limited to; empty = every one.
        actor: what the audit trail records (``<account>`` or ``token:<id>``).
        via: ``session`` (cookie; CSRF applies), ``token`` or ``oidc`` (a session too).
        session_hash: the session's digest when ``via`` is a session.
        csrf_token: the session's CSRF token.
    """

    name: str
    role: Role
    establishments: tuple[str, ...]
    actor: str
    via: str
    session_hash: str = ""
    csrf_token: str = ""

    def at_least(self, role: str) -> bool:
        return role_rank(self.role) >= role_rank(role)

    @property
    def restricted(self) -> bool:
        return bool(self.establishments)


class Scope:
    """What a principal may see of one configuration."""

    def __init__(self, config: Config, principal: Principal) -> None:
        self._config = config
        self._allowed = set(principal.establishments)
        self.restricted = principal.restricted

    def _visible(self, establishment: str | None) -> bool:
        if not self.restricted:
            return True
        return establishment is not None and establishment in self._allowed

    def channel(self, name: str) -> bool:
        """True when the channel is visible. A channel absent from the configuration (an
        old one that still has messages) is visible only to unrestricted principals."""
        spec = self._config.channels.get(name)
        return self._visible(spec.establishment if spec else None)

    def destination(self, name: str) -> bool:
        spec = self._config.destinations.get(name)
        return self._visible(spec.establishment if spec else None)

    def channels(self) -> tuple[str, ...] | None:
        """The ``MessageQuery.channels`` scope: None when unrestricted."""
        if not self.restricted:
            return None
        return tuple(sorted(n for n in self._config.channels if self.channel(n)))

    def channel_establishment(self, name: str) -> str | None:
        spec = self._config.channels.get(name)
        return spec.establishment if spec else None

    def destination_establishment(self, name: str) -> str | None:
        spec = self._config.destinations.get(name)
        return spec.establishment if spec else None


__all__ = ["Principal", "Scope", "as_role", "role_rank", "weakest"]
