"""Per-process state of the admin API: the console context, the login limiter and the
OpenID Connect logins under way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.config.console import ConsoleSettings
from engine.console.api.auth import LoginLimiter
from engine.console.context import ConsoleContext

if TYPE_CHECKING:
    from engine.console.api.oidc import OidcClient


@dataclass
class ApiState:
    ctx: ConsoleContext
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    oidc: OidcClient | None = None

    @property
    def settings(self) -> ConsoleSettings:
        return self.ctx.config.console


__all__ = ["ApiState"]
