"""The ``mllp`` destination: sends each payload as one MLLP frame and waits for its ACK.

One persistent connection per destination, opened on the first send and reopened after any
failure; an ``asyncio.Lock`` keeps exactly one message in flight. Outcomes:

* MSA-1 ``AA``/``CA`` → delivered (returns ``"ACK AA"``/``"ACK CA"``);
* ``AE``/``AR``/``CE``/``CR`` → :class:`PermanentDeliveryError` naming the ERR codes and
  locations (``ERR 103 (Table value not found) PID-8``); the peer's texts (MSA-3, ERR-8)
  are not kept, since they may quote values of the message;
* refused/reset connection, TLS failure, no ACK within ``ack_timeout``, unreadable ACK,
  or an ACK whose MSA-2 is not the message's MSH-10 → :class:`RetryableDeliveryError`,
  and the connection is dropped.

MLLP has no idempotency key: a redelivery after a lost ACK reaches the peer twice with the
same MSH-10, which HL7 receivers use to detect duplicates.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from typing import NamedTuple

from channels.mllp.config import MllpDestinationConfig
from channels.mllp.framing import FrameDecoder, encode_frame
from channels.mllp.server import close_writer
from channels.mllp.tls import client_context
from engine.components import DeliveryContext, Destination, Payload
from engine.errors import (
    ChannelError,
    FramingError,
    ParseError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from engine.formats.hl7v2 import TABLE_0357, Header, read_header
from engine.logs import safe_id
from engine.registry import destination

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
ACCEPTED = frozenset({"AA", "CA"})
REFUSED = frozenset({"AE", "AR", "CE", "CR"})
_MAX_DETAIL = 300


def _segments(ack: bytes, header: Header) -> list[list[str]]:
    text = ack.decode(header.codec, errors="replace").replace("\n", "\r")
    return [s.split(header.delimiters.field) for s in text.split("\r") if s]


def _get(fields: list[str], n: int) -> str:
    return fields[n] if n < len(fields) else ""


class AckReply(NamedTuple):
    """What an ACK said: MSA-1, MSA-2 (through :func:`~engine.logs.safe_id`), a
    patient-free detail (ERR codes and locations only), and the ERR-3 codes."""

    code: str
    control_id: str
    detail: str
    error_codes: tuple[str, ...]


def parse_ack(ack: bytes) -> AckReply:
    """Read the MSA and ERR segments of an ACK frame.

    Raises:
        ParseError: no readable MSH, no MSA segment, or an MSA-1 that is not an ACK code.
    """
    try:
        header = read_header(ack, require=False)
    except ParseError as exc:
        raise ParseError(f"answer is not an HL7 ACK: {exc}", code=exc.code) from exc
    segments = _segments(ack, header)
    msa = next((s for s in segments if s[0] == "MSA"), None)
    if msa is None:
        raise ParseError("answer has no MSA segment", segment="MSA")
    code = _get(msa, 1).strip().upper()
    if code not in ACCEPTED | REFUSED:
        raise ParseError(
            "answer has an MSA-1 that is not an acknowledgement code",
            segment="MSA",
            field=1,
            code=103,
        )
    d = header.delimiters
    details: list[str] = []
    error_codes: list[str] = []
    for err in (s for s in segments if s[0] == "ERR"):
        err_code = _token(_get(err, 3).split(d.component)[0], _CODE)
        location = _get(err, 2)
        if not err_code and _get(err, 1):  # v2.3 style: ERR-1 is an ELD (seg^seq^field^code)
            eld = _get(err, 1).split(d.component)
            err_code = _token(_get(eld, 3).split(d.subcomponent or d.component)[0], _CODE)
            location = d.component.join(eld[:3])
        if err_code:
            error_codes.append(err_code)
        label = TABLE_0357.get(int(err_code)) if err_code else None
        where = "-".join(t for t in (_token(p, _PLACE) for p in location.split(d.component)) if t)
        ans = _token(_get(err, 5).split(d.component)[0], _CODE)
        parts = [
            f"ERR {err_code}" if err_code else "ERR",
            f"({label})" if label else "",
            where,
            f"application code {ans}" if ans else "",
        ]
        details.append(" ".join(p for p in parts if p))
    detail = "; ".join(details)
    return AckReply(code, safe_id(_get(msa, 2)), detail[:_MAX_DETAIL], tuple(error_codes))


_CODE = re.compile(r"[0-9]{1,4}")
_PLACE = re.compile(r"[A-Z][A-Z0-9]{2}|[0-9]{1,4}")


def _token(value: str, pattern: re.Pattern[str]) -> str:
    """``value`` when it is a code or location token (``pattern``), else ""."""
    value = value.strip()
    return value if pattern.fullmatch(value) else ""


@destination("mllp", config=MllpDestinationConfig)
class MllpDestination(Destination[MllpDestinationConfig]):
    """Sends HL7v2 messages to an MLLP listener (TCP or TLS) and checks each ACK."""

    def __init__(self, name: str, config: MllpDestinationConfig) -> None:
        super().__init__(name, config)
        self._lock = asyncio.Lock()
        self._ssl: ssl.SSLContext | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._decoder: FrameDecoder | None = None

    async def open(self) -> None:
        """Load the TLS context (ChannelError if unusable); the connection opens lazily."""
        if self.config.tls is not None and self._ssl is None:
            self._ssl = client_context(self.config.tls)

    async def close(self) -> None:
        """Close the connection if any. Idempotent."""
        async with self._lock:
            await self._drop()

    async def send(self, payload: Payload, context: DeliveryContext) -> str:
        """Send ``payload.body`` and wait for its ACK; see the module docstring for outcomes."""
        try:
            frame = encode_frame(payload.body)
        except FramingError as exc:
            raise PermanentDeliveryError(f"cannot frame the message: {exc}") from exc
        try:
            control_id = read_header(payload.body, require=False).control_id
        except ParseError:
            control_id = ""
        extra = {"destination": self.name, "message_id": context.message_id}
        async with self._lock:
            try:
                answer = await self._exchange(frame)
                code, acked, detail, error_codes = parse_ack(answer)
            except (OSError, TimeoutError, ChannelError, ParseError) as exc:
                reason = self._describe(exc)  # before _drop: it tells connect from ACK wait
                await self._drop()
                log.warning("MLLP delivery failed: %s.", reason, extra=extra)
                raise RetryableDeliveryError(f"{self._target()}: {reason}") from exc
            except BaseException:
                self._abandon()  # cancelled mid-exchange: the stream state is unknown
                raise
            if acked and control_id and acked != safe_id(control_id):
                await self._drop()
                raise RetryableDeliveryError(
                    f"{self._target()}: ACK is for control id {acked}, not {safe_id(control_id)}"
                )
        if code in ("AR", "CR") and "207" in error_codes:
            # a reject for an internal error of the receiver (e.g. its store failed): resend
            raise RetryableDeliveryError(f"{self._target()} answered {code}: {detail or code}")
        if code in REFUSED:
            raise PermanentDeliveryError(f"{self._target()} answered {code}: {detail or code}")
        return f"ACK {code}"

    def _target(self) -> str:
        host, port = self.config.address
        return f"{host}:{port}"

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            if self._writer is None:
                return f"no connection within connect_timeout ({self.config.connect_timeout:g}s)"
            return f"no ACK within ack_timeout ({self.config.ack_timeout:g}s)"
        if isinstance(exc, ssl.SSLError):
            return f"TLS error: {exc.reason or type(exc).__name__}"
        if isinstance(exc, OSError):
            return f"connection failed: {exc.strerror or exc or type(exc).__name__}"
        return str(exc)

    async def _exchange(self, frame: bytes) -> bytes:
        """Write one frame on the (re)opened connection and read one ACK frame."""
        reader, writer, decoder = await self._connect()
        loop = asyncio.get_running_loop()
        async with asyncio.timeout_at(loop.time() + self.config.ack_timeout):
            writer.write(frame)
            await writer.drain()
            while True:
                data = await reader.read(READ_CHUNK)
                if not data:
                    raise ConnectionResetError("connection closed before the ACK")
                frames = decoder.feed(data)
                if frames:
                    if len(frames) > 1 or decoder.in_frame or decoder.error is not None:
                        await self._drop()  # unsolicited extra data: start clean next time
                    return frames[0]

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, FrameDecoder]:
        if self._writer is not None and self._reader is not None and self._decoder is not None:
            if not self._writer.is_closing() and not self._reader.at_eof():
                return self._reader, self._writer, self._decoder
            await self._drop()
        if self.config.tls is not None and self._ssl is None:
            self._ssl = client_context(self.config.tls)
        host, port = self.config.address
        server_hostname = None
        if self._ssl is not None:
            server_hostname = (self.config.tls and self.config.tls.server_hostname) or host
        async with asyncio.timeout(self.config.connect_timeout):
            reader, writer = await asyncio.open_connection(
                host,
                port,
                ssl=self._ssl,
                server_hostname=server_hostname,
                limit=READ_CHUNK,
            )
        self._reader, self._writer = reader, writer
        self._decoder = FrameDecoder(self.config.max_frame_size)
        log.debug("Connected to %s.", self._target(), extra={"destination": self.name})
        return reader, writer, self._decoder

    async def _drop(self) -> None:
        writer = self._writer
        self._reader = self._writer = self._decoder = None
        if writer is not None:
            await close_writer(writer)

    def _abandon(self) -> None:
        writer = self._writer
        self._reader = self._writer = self._decoder = None
        if writer is not None:
            writer.transport.abort()


__all__ = ["AckReply", "MllpDestination", "parse_ack"]
