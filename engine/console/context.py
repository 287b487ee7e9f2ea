"""What the console's handlers share: built once per process by whoever serves the console
(``passerelle run`` in the engine process, ``passerelle console`` beside it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from engine.config.models import Config
from engine.store.base import Store


class EngineRuntime(Protocol):
    """The running engine, when the console lives in its process.

    Standing orders (pause a destination, stop a channel) are written to the store by the
    console; :meth:`apply_controls` makes the engine act on them at once (an engine in
    another process picks them up on its next control poll).
    """

    def channel_states(self) -> dict[str, str]:
        """Channel name -> ``listening``, ``stopped`` or ``failed``."""
        ...

    async def apply_controls(self) -> None:
        """Re-read the store's controls and pause/resume/stop/start accordingly."""
        ...

    async def reload(self) -> str:
        """Reload routes.yaml (as SIGHUP does); returns a one-line summary.

        Raises:
            ConfigError: the new configuration is invalid (the old one keeps running).
        """
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ConsoleContext:
    """Shared by every console handler; the creator owns (opens and closes) the store."""

    store: Store
    config: Config
    config_path: Path | None = None
    patient_secret: bytes | None = None
    """Key of the patient index; None: patient search is unavailable (the API says so)."""
    runtime: EngineRuntime | None = None
    now: Callable[[], datetime] = field(default=_utcnow)
    """The clock (tests may pass a fixed one)."""
