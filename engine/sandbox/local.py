"""The local sandbox: the FHIR platform and the DMP endpoint running side by side on
loopback, for ``passerelle sandbox`` and ``passerelle run --sandbox``.

Contract:

* Ports are fixed (``SANDBOX_FHIR_PORT``, default 8090; ``SANDBOX_DMP_PORT``, default
  8091) so that ``routes.yaml`` can name them with the same ``${VAR:-default}``; port 0
  picks free ports (tests).
* The DMP demands mutual TLS and a VIHF signed by the organisation's certificate, like the
  real one. :func:`sandbox_pki` writes a development CA, the server and client
  certificates and the organisation's signing certificate (``cachet``) into
  ``<home>/sandbox/`` once, and reuses them afterwards.
* Both servers run in one background thread with its own event loop, so the caller may
  block or run its own loop (the engine). :meth:`LocalSandbox.start` raises
  :class:`~engine.errors.ChannelError` naming the server and the port when one cannot
  listen; :meth:`LocalSandbox.stop` is idempotent.
* Every request the DMP answers is logged as one line (answer, uniqueIds: ids only).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ChannelError
from engine.pki import make_cert, write_dev_pki
from engine.sandbox.fhir_platform import FhirPlatform

if TYPE_CHECKING:
    from engine.sandbox.dmp_endpoint import DmpEndpoint

log = logging.getLogger("passerelle.sandbox")

FHIR_PORT, DMP_PORT = 8090, 8091
FHIR_PORT_VAR, DMP_PORT_VAR = "SANDBOX_FHIR_PORT", "SANDBOX_DMP_PORT"


@dataclass(frozen=True, slots=True)
class SandboxPki:
    """Files of the sandbox PKI (PEM; keys mode 0600): the development CA, the DMP's server
    certificate, the engine's client certificate and the organisation's signing
    certificate (``cachet``) for the VIHF."""

    ca_crt: Path
    ca_key: Path
    server_crt: Path
    server_key: Path
    client_crt: Path
    client_key: Path
    cachet_crt: Path
    cachet_key: Path

    @classmethod
    def at(cls, directory: Path) -> SandboxPki:
        names = ("ca", "server", "client", "cachet")
        return cls(*(directory / f"{who}.{ext}" for who in names for ext in ("crt", "key")))


def sandbox_home(env: Mapping[str, str] | None = None) -> Path:
    """``$PASSERELLE_HOME/sandbox`` (``./var/sandbox`` by default), as routes.yaml names it."""
    env = os.environ if env is None else env
    return Path(env.get("PASSERELLE_HOME") or "./var") / "sandbox"


def sandbox_ports(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(FHIR, DMP) ports from ``SANDBOX_FHIR_PORT``/``SANDBOX_DMP_PORT`` or the defaults.

    Raises:
        ChannelError: a variable is not a port number.
    """
    env = os.environ if env is None else env
    ports = []
    for var, default in ((FHIR_PORT_VAR, FHIR_PORT), (DMP_PORT_VAR, DMP_PORT)):
        text = env.get(var, "") or str(default)
        if not text.isdigit() or int(text) > 65535:
            raise ChannelError(f"{var}={text!r} is not a port number (0-65535)")
        ports.append(int(text))
    return ports[0], ports[1]


def sandbox_pki(directory: Path) -> SandboxPki:
    """Write the sandbox PKI into ``directory`` unless it is already there."""
    pki = SandboxPki.at(directory)
    if not pki.ca_crt.exists():
        write_dev_pki(directory, overwrite=True)
    if not pki.cachet_crt.exists():
        ca = (pki.ca_crt.read_bytes(), pki.ca_key.read_bytes())
        cert, key = make_cert(ca, "passerelle-sandbox-cachet", server=False, client=True, sans=())
        pki.cachet_key.write_bytes(key)
        pki.cachet_key.chmod(0o600)
        pki.cachet_crt.write_bytes(cert)
    return pki


class LocalSandbox:
    """The FHIR platform and (when the XDS schemas are available) the DMP endpoint."""

    def __init__(self, directory: Path, *, fhir_port: int, dmp_port: int) -> None:
        self.pki = sandbox_pki(directory)
        self.fhir = FhirPlatform()
        self.fhir.port = fhir_port
        self.dmp_port = dmp_port
        self.dmp_url = ""
        self.dmp_missing = ""  # why the DMP is not running, when it is not
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._dmp: DmpEndpoint | None = None
        self._watch: asyncio.Task[None] | None = None

    @property
    def fhir_url(self) -> str:
        return self.fhir.base_url

    def start(self) -> LocalSandbox:
        try:
            self.fhir.start()
        except OSError as exc:
            self.fhir.stop()
            raise ChannelError(
                f"sandbox FHIR platform: cannot listen on 127.0.0.1:{self.fhir.port}:"
                f" {exc.strerror or exc}; choose another port with {FHIR_PORT_VAR}=..."
            ) from exc
        ready = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)
        try:
            self._call(self._start_dmp())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._call(self._stop_dmp())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None
        self.fhir.stop()

    def __enter__(self) -> LocalSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.call_soon(ready.set)
        self._loop.run_forever()
        self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    async def _start_dmp(self) -> None:
        from engine.formats.xds import load_tables
        from engine.sandbox.dmp_endpoint import XDS_XSD, DmpEndpoint

        if not XDS_XSD.is_file():
            self.dmp_missing = (
                f"the DMP endpoint needs the XDS.b schemas of the shared corpus ({XDS_XSD});"
                " set PASSERELLE_CORPUS to the corpus directory"
            )
            return
        dmp = DmpEndpoint(
            server_cert=self.pki.server_crt,
            server_key=self.pki.server_key,
            client_ca=self.pki.ca_crt,
            organisation_cert=self.pki.cachet_crt,
            tables=load_tables(),
            port=self.dmp_port,
        )
        try:
            self.dmp_url = await dmp.start()
        except ChannelError as exc:
            raise ChannelError(
                f"sandbox DMP endpoint: {exc}; choose another port with {DMP_PORT_VAR}=..."
            ) from exc
        self._dmp = dmp
        self._watch = asyncio.create_task(self._report(dmp))

    async def _stop_dmp(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        if self._dmp is not None:
            await self._dmp.stop()
        self._dmp = None

    @staticmethod
    async def _report(dmp: DmpEndpoint) -> None:
        """Log each request the DMP answered (answer and uniqueIds only)."""
        seen = 0
        while True:
            await asyncio.sleep(0.1)
            for received in dmp.requests[seen:]:
                if not received.answer:
                    break  # still being checked
                seen += 1
                ids = ", ".join(e["uniqueId"] for e in received.entries.values()) or "none"
                log.info(
                    "sandbox DMP answered an ITI-41 submission: %s (documents: %s)",
                    received.answer,
                    ids,
                )


__all__ = [
    "DMP_PORT",
    "DMP_PORT_VAR",
    "FHIR_PORT",
    "FHIR_PORT_VAR",
    "LocalSandbox",
    "SandboxPki",
    "sandbox_home",
    "sandbox_pki",
    "sandbox_ports",
]
