"""Alerts: what the engine tells an operator's tooling when a condition starts or ends.

Events (names are stable; details are figures, names of destinations and error texts
written by the engine, never patient data):

* ``store.full`` / ``store.full.resolved``: intake refuses messages because the store is
  full (:mod:`engine.conditions`), and when it accepts them again;
* ``destination.paused`` / ``destination.resumed``: a destination's circuit opened after
  consecutive failures, and closed when a probe went through (:mod:`engine.circuit`).

An :data:`AlertHook` is any callable ``hook(event, details)`` called on the event loop; it
must not block. :class:`CommandAlert` is the hook ``engine.alert_command`` configures: it
runs the command with the event name as its last argument and the details as one JSON
object on its standard input, in the background (an alert never delays a message).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence

log = logging.getLogger(__name__)

AlertHook = Callable[[str, Mapping[str, object]], None]


def raise_alert(hooks: Sequence[AlertHook], event: str, details: Mapping[str, object]) -> None:
    """Call every hook; a failing hook is logged and the others still run."""
    for hook in list(hooks):
        try:
            hook(event, details)
        except Exception:
            log.exception("Alert hook failed.", extra={"event": event})


class CommandAlert:
    """Runs ``argv + [event]`` with the details as JSON on stdin (``timeout`` seconds at
    most; a failure or a timeout is logged, never raised)."""

    def __init__(self, argv: Sequence[str], timeout: float = 30.0) -> None:
        self.argv = list(argv)
        self.timeout = timeout
        self._running: set[asyncio.Task[None]] = set()

    def __call__(self, event: str, details: Mapping[str, object]) -> None:
        task = asyncio.get_running_loop().create_task(self._run(event, details))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, event: str, details: Mapping[str, object]) -> None:
        body = json.dumps({"event": event, **details}, default=str).encode()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                event,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            log.warning("Alert command could not start.", extra={"event": event, "error": str(exc)})
            return
        try:
            await asyncio.wait_for(proc.communicate(body), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            log.warning("Alert command timed out.", extra={"event": event})
            return
        if proc.returncode != 0:
            log.warning("Alert command failed.", extra={"event": event, "status": proc.returncode})

    async def drain(self) -> None:
        """Wait for the commands still running (at stop)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)


__all__ = ["AlertHook", "CommandAlert", "raise_alert"]
