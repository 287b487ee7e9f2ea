"""A demo engine with its console, for the browser tests and the documentation's
screenshots: two MLLP channels of two establishments, the sandbox FHIR platform as
destination, local accounts, the console on a free port of 127.0.0.1.

The engine and the console run on an event loop of their own thread, so a synchronous
driver (Selenium, a script) can use them: :meth:`DemoEngine.call` runs a coroutine there.
Only for tests and demos: the accounts' passwords are the caller's.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from channels.mllp.server import MllpSource
from engine.app import Engine
from engine.assembly import build_engine
from engine.config.loader import load_config_text
from engine.console.api.accounts import create_account
from engine.console.context import ConsoleContext
from engine.console.server import ConsoleServer
from engine.patient_secret import patient_secret
from engine.sandbox.fhir_platform import FhirPlatform

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[3]
ESTABLISHMENT_A = "750000001"
ESTABLISHMENT_B = "920000002"
PATIENT_SECRET = "demo-patient-index-secret-not-for-production"

CONFIG = """\
version: 1
engine: {{home: {home}, workers: 2, shutdown_grace: 2s, mappings: {mappings}, poll_interval: 200ms}}
store:
  backend: sqlite
  path: {home}/store.db
  patient_index: {{secret: "${{DEMO_PATIENT_INDEX_SECRET}}"}}
retry:
  max_attempts: 2
  initial_backoff: 50ms
  max_backoff: 100ms
  circuit: {{enabled: false}}
channels:
  mllp_a: {{type: mllp, listen: "127.0.0.1:0", establishment: "{est_a}"}}
  mllp_b: {{type: mllp, listen: "127.0.0.1:0", establishment: "{est_b}"}}
destinations:
  platform:
    type: fhir
    base_url: {base_url}
    connect_timeout: 1s
    timeout: 5s
    establishment: "{est_a}"
    ordering: {{key: patient}}       # a dead letter holds its patient until replay or release
  archive_b: {{type: file, directory: {home}/out, establishment: "{est_b}"}}
console:
  listen: 127.0.0.1:0
routes:
  - name: adt_to_fr_core
    from: [mllp_a]
    when: {{message_type: ADT}}
    map: pam_fr_adt_to_fr_core
    to: [platform]
  - name: archive_b
    from: [mllp_b]
    to: [archive_b]
"""


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """A local account made before the console starts."""

    name: str
    password: str
    role: str
    establishments: tuple[str, ...] = ()


def adt(control_id: str, ipp: str, nda: str = "", event: str = "A01") -> bytes:
    """A PAM-FR ADT from samples/hl7v2 with its control id, IPP, NDA and movement changed."""
    text = (REPO / "samples/hl7v2/adt_a01_admission.hl7").read_text(encoding="utf-8")
    text = text.replace("ADT20261120093000001", control_id).replace("ADT^A01^", f"ADT^{event}^")
    text = text.replace("PID|1||100234^", f"PID|1||{ipp}^")
    text = text.replace("MVT-000501", f"MVT-{control_id}")
    return text.replace("2600001234", nda or f"9{ipp}").encode("utf-8")


def mllp_send(port: int, message: bytes, timeout: float = 10.0) -> bytes:
    """Send one message over MLLP on 127.0.0.1 and return the ACK (framing removed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"\x0b" + message + b"\x1c\r")
        data = b""
        while not data.endswith(b"\x1c\r"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("MLLP peer closed before the ACK")
            data += chunk
    return data.strip(b"\x0b\x1c\r")


class DemoEngine:
    """The demo engine and its console on a background thread (see the module doc)."""

    def __init__(self, home: Path, platform: FhirPlatform, accounts: Sequence[DemoAccount]) -> None:
        self.home = home
        self.platform = platform
        self.accounts = list(accounts)
        self.url = ""
        """The console's base URL (``http://127.0.0.1:<port>``) once started."""
        self.engine: Engine | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: ConsoleServer | None = None

    def config_text(self) -> str:
        return CONFIG.format(
            home=self.home,
            mappings=REPO / "mappings",
            est_a=ESTABLISHMENT_A,
            est_b=ESTABLISHMENT_B,
            base_url=self.platform.base_url,
        )

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run ``coro`` on the engine's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> DemoEngine:
        """Start the engine, create the accounts, serve the console; stops all on failure."""
        self._thread.start()
        try:
            self.call(self._start())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.call(self._stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> DemoEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def mllp_port(self, channel: str) -> int:
        """The bound port of an MLLP channel."""
        assert self.engine is not None
        (source,) = [s for s in self.engine.sources if s.name == channel]
        return cast(MllpSource, source).address[1]

    def send(self, channel: str, message: bytes) -> bytes:
        """Send ``message`` to ``channel`` over MLLP; the ACK."""
        return mllp_send(self.mllp_port(channel), message)

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until every message is routed (or otherwise finished) and no delivery is
        pending or retrying (every one sent or dead)."""
        assert self.engine is not None
        store = self.engine.store
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            channels = self.call(store.channel_summaries())
            destinations = self.call(store.destination_summaries())
            waiting = sum(n for c in channels for st, n in c.counts.items() if not st.finished)
            waiting += sum(n for d in destinations for st, n in d.counts.items() if not st.finished)
            if not waiting:
                return
            time.sleep(0.1)
        raise TimeoutError("deliveries still waiting")

    def stop_console(self) -> None:
        """Stop serving the console (the engine runs on)."""
        if self._server is not None:
            self.call(self._server.stop())

    def start_console(self) -> None:
        """Serve the console again, on the same port."""
        assert self._server is not None
        ctx, port = self._server.ctx, self._server.port
        listen = ctx.config.console.listen[0], port
        console = ctx.config.console.model_copy(update={"listen": listen})
        ctx.config = ctx.config.model_copy(update={"console": console})
        self._server = ConsoleServer(ctx)
        self.call(self._server.start())

    async def _start(self) -> None:
        config = load_config_text(
            self.config_text(), env={"DEMO_PATIENT_INDEX_SECRET": PATIENT_SECRET}
        )
        secret = patient_secret(config)
        engine = build_engine(config)
        await engine.start()
        self.engine = engine
        now = datetime.now(UTC)
        for a in self.accounts:
            await create_account(engine.store, a.name, a.role, a.password, a.establishments, now)
        ctx = ConsoleContext(
            store=engine.store, config=config, patient_secret=secret, runtime=engine.controls
        )
        self._server = ConsoleServer(ctx)
        await self._server.start()
        self.url = self._server.url

    async def _stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        if self.engine is not None:
            await self.engine.stop()
