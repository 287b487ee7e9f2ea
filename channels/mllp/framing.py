"""MLLP framing as a pure bytes codec: no sockets, no clocks, no logging.

A frame on the wire is ``0x0B payload 0x1C 0x0D`` (HL7 v2 MLLP, release 2).

Decoder contract, chosen to tolerate what real senders do and nothing more:

* A frame is complete as soon as its end block ``0x1C`` arrives; the ``0x0D`` that should
  follow is optional (some senders omit it, and waiting for it would leave them without an
  ACK). After a frame, ``\\r`` and ``\\n`` are skipped, which is also how the trailing
  ``0x0D`` is consumed.
* Any other byte outside a frame, or a start block ``0x0B`` inside a frame, is a
  :class:`~engine.errors.FramingError`: the stream can no longer be trusted.
* A payload longer than ``max_frame_bytes`` raises :class:`~engine.errors.FrameTooLarge`
  as soon as the limit is passed; its ``head`` keeps the first :data:`HEAD_BYTES` bytes so
  that an ACK can still mirror the MSH.
* After an error the decoder is dead: every further :meth:`FrameDecoder.feed` raises the
  same error.
"""

from __future__ import annotations

from engine.errors import FrameTooLarge, FramingError

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\x0d"
HEAD_BYTES = 4096
_BETWEEN_FRAMES = frozenset(b"\r\n")


def encode_frame(payload: bytes) -> bytes:
    """Wrap ``payload`` in MLLP start and end blocks.

    Raises:
        FramingError: the payload contains a start (0x0B) or end (0x1C) block byte and
            could not be decoded unambiguously by the peer.
    """
    if START_BLOCK in payload or END_BLOCK in payload:
        raise FramingError("payload contains an MLLP block character (0x0B or 0x1C)")
    return START_BLOCK + payload + END_BLOCK + CARRIAGE_RETURN


class FrameDecoder:
    """Incremental MLLP decoder for one connection. Not thread-safe; one per stream."""

    def __init__(self, max_frame_bytes: int) -> None:
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._in_frame = False
        self._error: FramingError | None = None

    @property
    def in_frame(self) -> bool:
        """True when a start block was read and its end block has not arrived yet."""
        return self._in_frame

    @property
    def pending(self) -> int:
        """Payload bytes buffered for the incomplete frame (0 between frames)."""
        return len(self._buffer)

    @property
    def error(self) -> FramingError | None:
        """The error that killed this decoder, if any (it may not have been raised yet)."""
        return self._error

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data``; return the payloads of the frames it completed, in order.

        When an error follows complete frames in the same ``data``, those frames are
        returned and the error is held: it is raised by the next call (``feed(b"")``
        raises it at once). Check :attr:`error` after handling the returned frames.

        Raises:
            FrameTooLarge: a frame grew past ``max_frame_bytes``.
            FramingError: a byte outside a frame is not ``\\r``/``\\n``/``0x0B``, or a
                start block appeared inside a frame.
        """
        if self._error is not None:
            raise self._error
        frames: list[bytes] = []
        try:
            self._consume(bytes(data), frames)
        except FramingError as exc:
            self._error = exc
            self._buffer = bytearray()
            self._in_frame = False
            if not frames:
                raise
        return frames

    def _consume(self, data: bytes, frames: list[bytes]) -> None:
        pos, size = 0, len(data)
        while pos < size:
            if not self._in_frame:
                byte = data[pos]
                if byte == START_BLOCK[0]:
                    self._in_frame = True
                elif byte not in _BETWEEN_FRAMES:
                    raise FramingError(
                        "data outside an MLLP frame (expected 0x0B to start one, or CR/LF)"
                    )
                pos += 1
                continue
            end = data.find(END_BLOCK, pos)
            stop = size if end < 0 else end
            if data.find(START_BLOCK, pos, stop) >= 0:
                raise FramingError("start block 0x0B inside an MLLP frame")
            self._append(data, pos, stop)
            if end < 0:
                return
            frames.append(bytes(self._buffer))
            self._buffer = bytearray()
            self._in_frame = False
            pos = end + 1

    def _append(self, data: bytes, start: int, stop: int) -> None:
        room = self.max_frame_bytes - len(self._buffer)
        if stop - start > room:
            head = bytes(self._buffer[:HEAD_BYTES])
            head += data[start : min(stop, start + HEAD_BYTES - len(head))]
            raise FrameTooLarge(
                f"frame exceeds the maximum size of {self.max_frame_bytes} bytes", head=head
            )
        self._buffer += data[start:stop]


__all__ = [
    "CARRIAGE_RETURN",
    "END_BLOCK",
    "HEAD_BYTES",
    "START_BLOCK",
    "FrameDecoder",
    "encode_frame",
]
