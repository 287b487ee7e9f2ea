"""The ``mllp`` source: an asyncio MLLP listener (optionally TLS / mutual TLS).

Per connection, frames are handled strictly in order, one at a time: read the MSH, commit
through :meth:`Intake.accept`, and only then answer AA. Bad input never crashes the
listener; what each kind gets is listed in ``docs/mllp.md``:

* unreadable or incomplete MSH → AR with an ERR built from the ParseError, recorded with
  :meth:`Intake.reject`; the connection stays open;
* commit failure → AR (CR in enhanced mode), ERR 207 "message could not be stored, please
  resend";
* PAM-FR (``hl7:`` settings): unknown event → AA and dropped, or AE ERR 201; strict
  validation error → AE with one ERR per finding (``docs/pam-fr.md``);
* frame over ``max_frame_size`` → AR, ERR 207, then the connection closes;
* bytes outside a frame, idle/frame timeout, EOF mid-frame → logged, connection closed.

Logs use ``extra`` (channel, peer, message_id, control_id) and never carry message content.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from dataclasses import dataclass, field

from channels.mllp.config import IPNetwork, MllpSourceConfig
from channels.mllp.framing import FrameDecoder, encode_frame
from channels.mllp.notices import Notices
from channels.mllp.tls import server_context, subject_common_name
from engine.components import Intake, Source
from engine.errors import ChannelError, FrameTooLarge, FramingError, ParseError
from engine.formats.hl7v2 import AckError, Header, build_ack, read_header
from engine.intake.hl7v2 import Hl7IntakeOptions, examine_frame, settle
from engine.latency import observe_ack
from engine.message import HL7V2
from engine.registry import source

log = logging.getLogger(__name__)


def _address_in(host: str, networks: tuple[IPNetwork, ...]) -> bool:
    """True when ``host`` (an IP address; IPv4-mapped IPv6 counts as IPv4) is in one."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in networks)


CONTENT_TYPE = HL7V2
READ_CHUNK = 64 * 1024
CLOSE_TIMEOUT = 5.0  # bound on a TLS close_notify exchange before the socket is aborted
LINGER = 1.0  # after an oversize AR, input is drained this long so the peer can read the AR
STOP_GRACE = 30.0  # stop() waits this long for in-flight commits before cancelling them


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    peer: str
    task: asyncio.Task[None] | None
    host: str = ""  # the peer's address, without the port
    last_frame: float = 0.0  # loop time of the last complete frame (or of the connection)
    metadata: dict[str, str] = field(default_factory=dict)
    reading: bool = False  # suspended in a read or handshake: stop() may cancel it
    examining: bool = False  # a frame is being examined (not committed yet): ditto
    aborted: bool = False
    evicted: bool = False  # closed to make room for a new connection


def _format_peer(writer: asyncio.StreamWriter) -> tuple[str, str]:
    """``(host:port, host)`` of the peer."""
    name = writer.get_extra_info("peername")
    if isinstance(name, tuple) and len(name) >= 2:
        host, port = str(name[0]), name[1]
        return (f"[{host}]:{port}" if ":" in host else f"{host}:{port}"), host
    return str(name), str(name)


def _abort(conn: _Connection) -> None:
    """After a failed ``start_tls`` asyncio has closed the socket but the stream protocol is
    never told, so ``wait_closed()`` would hang: abort instead and skip the wait."""
    conn.writer.transport.abort()
    conn.aborted = True


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close ``writer`` and wait for it, aborting after CLOSE_TIMEOUT. Never raises."""
    try:
        writer.close()
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await writer.wait_closed()
    except (OSError, TimeoutError):
        writer.transport.abort()


@source("mllp", config=MllpSourceConfig)
class MllpSource(Source[MllpSourceConfig]):
    """HL7v2 over MLLP (TCP or TLS); each message is ACKed AA only after its commit.

    Restartable: after :meth:`stop`, :meth:`start` listens again on the same address (an
    operator's channel stop/start, :mod:`engine.controls`)."""

    restartable = True

    def __init__(self, name: str, config: MllpSourceConfig) -> None:
        super().__init__(name, config)
        self._server: asyncio.Server | None = None
        self._ssl: ssl.SSLContext | None = None
        self._intake: Intake | None = None
        self._address: tuple[str, int] | None = None
        self._connections: set[_Connection] = set()
        self._stopping = False
        self._stopped = asyncio.Event()
        self._codec = config.default_codec
        self._allowed = config.allowed_networks
        self._notices = Notices(log)
        self._options: Hl7IntakeOptions = config.hl7.options(config.default_codec)

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port), known after :meth:`start`. Raises ChannelError before."""
        if self._address is None:
            raise ChannelError(f"mllp source {self.name!r} is not started")
        return self._address

    def describe(self) -> str:
        host, port = self._address or self.config.listen
        scheme = "mllp" if self.config.tls is None else "mllps"
        return f"{scheme}://{host}:{port}"

    async def start(self, intake: Intake) -> None:
        """Bind and listen. Raises ChannelError (address in use, unusable certificate)."""
        if self._server is not None:
            raise ChannelError(f"mllp source {self.name!r} is already started")
        self._ssl = server_context(self.config.tls) if self.config.tls is not None else None
        host, port = self.config.listen
        if port == 0 and self._address is not None:  # started before: same port again
            port = self._address[1]
        self._stopping = False
        self._stopped = asyncio.Event()
        self._intake = intake
        try:
            # TLS is started per connection (see _handshake) so that refusals are logged.
            self._server = await asyncio.start_server(self._on_connection, host, port)
        except OSError as exc:
            raise ChannelError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        sockname = self._server.sockets[0].getsockname()
        self._address = (str(sockname[0]), int(sockname[1]))
        log.info("Listening on %s.", self.describe(), extra={"channel": self.name})

    async def stop(self) -> None:
        """Stop listening, let in-flight commits get their ACK, close every connection.

        Idle connections, and connections whose frame is still being examined, are closed
        at once (nothing of theirs was committed; the sender resends); a connection
        committing a frame finishes that frame (commit + ACK) and then closes. Idempotent;
        a concurrent call waits.
        """
        if self._server is None:
            return
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        self._server.close()
        for conn in list(self._connections):
            if (conn.reading or conn.examining) and conn.task is not None:
                conn.task.cancel()
        tasks = {c.task for c in self._connections if c.task is not None}
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=CLOSE_TIMEOUT)
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._server.wait_closed()
        except TimeoutError:
            log.warning("Listener did not close in time.", extra={"channel": self.name})
        self._server = None
        self._stopped.set()
        log.info("Channel stopped.", extra={"channel": self.name})

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer, host = _format_peer(writer)
        conn = _Connection(reader, writer, peer, asyncio.current_task(), host)
        conn.last_frame = asyncio.get_running_loop().time()
        extra = {"channel": self.name, "peer": conn.peer}
        refusal = self._admission(conn)
        if refusal:
            self._notices.warn("refused", "Connection refused: %s.", refusal, extra=extra)
            await close_writer(writer)
            return
        self._connections.add(conn)
        try:
            if self._ssl is not None and not await self._handshake(conn):
                return
            conn.metadata["peer"] = conn.peer
            subject = subject_common_name(conn.writer.get_extra_info("peercert"))
            if subject:
                conn.metadata["tls.client_subject"] = subject
            log.debug("Connection opened.", extra=extra)
            await self._serve(conn)
        except asyncio.CancelledError:
            if not (self._stopping or conn.evicted):
                raise
        except Exception:
            log.exception("Unexpected error on connection.", extra=extra)
        finally:
            self._connections.discard(conn)
            if not conn.aborted:
                await close_writer(conn.writer)
            log.debug("Connection closed.", extra=extra)

    def _admission(self, conn: _Connection) -> str:
        """Why ``conn`` is refused ("" to admit it), making room when a cap is reached.

        At the per-peer cap the peer's own longest-idle connection is closed, at the
        listener cap the longest-idle one overall: idle means waiting for a frame, ranked
        by the time of its last complete frame, so connections that only hold a slot (or
        drip CR bytes) go first and a new sender is never locked out. A connection whose
        frame is being examined or committed is never closed; when every connection at
        the cap is such a one, the new connection is refused.
        """
        if self._stopping:
            return "the listener is stopping"
        if self._allowed is not None and not _address_in(conn.host, self._allowed):
            return "peer address not in the channel's allow list"
        same_peer = [c for c in self._connections if c.host == conn.host]
        if len(same_peer) >= self.config.max_connections_per_peer and not self._evict(
            same_peer, "max_connections_per_peer"
        ):
            return "max_connections_per_peer reached and no idle connection to close"
        if len(self._connections) >= self.config.max_connections and not self._evict(
            list(self._connections), "max_connections"
        ):
            return "max_connections reached and no idle connection to close"
        return ""

    def _evict(self, candidates: list[_Connection], cap: str) -> bool:
        """Close the longest-idle of ``candidates``; False when none is idle."""
        idle = [c for c in candidates if c.reading and c.task is not None and not c.evicted]
        if not idle:
            return False
        victim = min(idle, key=lambda c: c.last_frame)
        victim.evicted = True
        self._connections.discard(victim)
        assert victim.task is not None
        victim.task.cancel()
        self._notices.warn(
            "evicted",
            "Closing the longest-idle connection to make room (%s).",
            cap,
            extra={"channel": self.name, "peer": victim.peer},
            level=logging.INFO,
        )
        return True

    async def _handshake(self, conn: _Connection) -> bool:
        """Upgrade to TLS within ``frame_timeout``; False (logged, aborted) on failure."""
        assert self._ssl is not None
        conn.reading = True
        try:
            await conn.writer.start_tls(self._ssl, ssl_handshake_timeout=self.config.frame_timeout)
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            reason = getattr(exc, "reason", None) or type(exc).__name__
            self._notices.warn(
                f"tls:{reason}",
                "TLS handshake failed: %s.",
                reason,
                extra={"channel": self.name, "peer": conn.peer},
            )
            _abort(conn)
            return False
        except asyncio.CancelledError:  # stop() during the handshake
            _abort(conn)
            raise
        finally:
            conn.reading = False
        return True

    async def _serve(self, conn: _Connection) -> None:
        """Read, decode and answer frames until EOF, timeout, framing error or stop."""
        extra = {"channel": self.name, "peer": conn.peer}
        loop = asyncio.get_running_loop()
        decoder = FrameDecoder(self.config.max_frame_size)
        frame_deadline: float | None = None
        while not self._stopping:
            # Only a complete frame restarts the idle clock: CR/LF between frames do not.
            idle = frame_deadline is None
            deadline = conn.last_frame + self.config.idle_timeout
            if frame_deadline is not None:
                deadline = frame_deadline
            conn.reading = True
            try:
                async with asyncio.timeout_at(deadline):
                    data = await conn.reader.read(READ_CHUNK)
            except TimeoutError:
                what = "idle_timeout" if idle else "frame_timeout"
                self._notices.warn(
                    what, "%s exceeded; closing the connection.", what.capitalize(), extra=extra
                )
                return
            except OSError as exc:  # includes ssl.SSLError and ConnectionResetError
                self._notices.warn(
                    "error", "Connection error: %s.", type(exc).__name__, extra=extra
                )
                return
            finally:
                conn.reading = False
            if not data:
                if decoder.in_frame:
                    log.warning(
                        "Connection closed mid-frame; %d bytes discarded.",
                        decoder.pending,
                        extra=extra,
                    )
                return
            try:
                frames = decoder.feed(data)
            except FramingError as exc:
                await self._framing_failed(conn, exc)
                return
            if frames:
                conn.last_frame = loop.time()
            for frame in frames:
                if self._stopping:
                    return  # not committed, not ACKed: the sender will resend it
                started = loop.time()
                ack = await self._process(conn, frame)
                if ack is not None and not await self._send(conn, ack):
                    return
                if ack is not None:
                    observe_ack(self.name, loop.time() - started)
                conn.last_frame = loop.time()
            if decoder.error is not None:
                await self._framing_failed(conn, decoder.error)
                return
            # The frame clock starts when a frame starts (or after the commits that preceded
            # it in the same read, so a slow store does not count against the sender).
            if not decoder.in_frame:
                frame_deadline = None
            elif frame_deadline is None or frames:
                frame_deadline = loop.time() + self.config.frame_timeout

    async def _process(self, conn: _Connection, frame: bytes) -> bytes | None:
        """Examine and commit one frame; return the ACK to send (None when the sender wants
        none). stop() abandons a frame still being examined (nothing committed, no ACK: the
        sender resends it) and waits only for one being committed."""
        assert self._intake is not None
        conn.examining = True
        try:
            exam = await examine_frame(frame, self._options)
        finally:
            conn.examining = False
        return await settle(self._intake, self.name, frame, exam, conn.metadata)

    async def _framing_failed(self, conn: _Connection, exc: FramingError) -> None:
        """Answer an oversize frame with AR (then drain briefly); log anything else."""
        extra = {"channel": self.name, "peer": conn.peer}
        if not isinstance(exc, FrameTooLarge):
            log.warning("Framing error; closing the connection: %s.", exc, extra=extra)
            return
        header = self._lenient_header(exc.head)
        extra["control_id"] = header.safe_control_id if header is not None else ""
        log.warning("%s; closing the connection.", str(exc).capitalize(), extra=extra)
        ack = build_ack(header, "AR", [AckError(207, str(exc))], text=str(exc))
        if await self._send(conn, ack):
            await self._linger(conn)

    def _lenient_header(self, raw: bytes) -> Header | None:
        try:
            return read_header(raw, default_codec=self._codec, require=False)
        except ParseError:
            return None

    async def _send(self, conn: _Connection, ack: bytes) -> bool:
        """Write one ACK frame; False (logged) when the peer is gone or does not read."""
        try:
            conn.writer.write(encode_frame(ack))
            async with asyncio.timeout(self.config.frame_timeout):
                await conn.writer.drain()
        except (OSError, TimeoutError, FramingError) as exc:
            log.warning(
                "Could not send the ACK: %s.",
                type(exc).__name__,
                extra={"channel": self.name, "peer": conn.peer},
            )
            return False
        return True

    async def _linger(self, conn: _Connection) -> None:
        """Half-close when possible, then discard input until EOF or LINGER seconds."""
        try:
            if conn.writer.can_write_eof():
                conn.writer.write_eof()
            async with asyncio.timeout(LINGER):
                while await conn.reader.read(READ_CHUNK):
                    pass
        except (OSError, TimeoutError):
            pass


__all__ = ["CONTENT_TYPE", "MllpSource", "close_writer"]
