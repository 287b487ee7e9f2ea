"""``passerelle send``: send HL7v2 files to an MLLP listener and print each ACK."""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import click

from channels.mllp.framing import FrameDecoder, encode_frame
from engine.config.types import parse_duration
from engine.errors import FramingError
from engine.formats.hl7v2.header import BOM


def split_messages(data: bytes) -> list[bytes]:
    """Split a file into messages: segment terminators become CR, each MSH starts one."""
    if data.startswith(BOM):
        data = data[3:]
    text = data.replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    messages: list[bytes] = []
    for segment in text.split(b"\r"):
        if not segment.strip():
            continue
        if segment.startswith(b"MSH") or not messages:
            messages.append(segment + b"\r")
        else:
            messages[-1] += segment + b"\r"
    return messages


def _ack_code(ack: bytes) -> str:
    for segment in ack.replace(b"\n", b"\r").split(b"\r"):
        if segment.startswith(b"MSA") and len(segment) > 4:
            return segment[4:].split(segment[3:4])[0].decode("ascii", "replace")
    return ""


async def _exchange(
    host: str,
    port: int,
    messages: list[bytes],
    context: ssl.SSLContext | None,
    timeout: float,
    on_ack: Callable[[bytes], None],
) -> None:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=context), timeout
    )
    decoder = FrameDecoder(16 * 1024 * 1024)
    try:
        for message in messages:
            writer.write(encode_frame(message))
            await writer.drain()
            frames: list[bytes] = []
            while not frames:
                chunk = await asyncio.wait_for(reader.read(65536), timeout)
                if not chunk:
                    raise ConnectionError("the server closed the connection without an ACK")
                frames = decoder.feed(chunk)
            for frame in frames:
                on_ack(frame)
    finally:
        writer.close()


def explain(exc: BaseException, where: str, timeout: str) -> str:
    """One line saying what went wrong with ``where`` (host:port) and what to do."""
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing listens on {where} (connection refused): is the engine running?"
    if isinstance(exc, TimeoutError):
        return f"no answer from {where} within {timeout} (--timeout to wait longer)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host of {where}: {exc.strerror}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS: the certificate of {where} is not trusted ({exc.verify_message});"
            " give its CA with --ca"
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {where} failed: {exc.reason or exc}"
    if isinstance(exc, FramingError):
        return f"{where} answered something that is not an MLLP frame: {exc}"
    if type(exc) is ConnectionError:  # raised above: closed without an ACK
        return f"{where}: {exc}"
    if isinstance(exc, OSError):
        return f"cannot send to {where}: {exc.strerror or exc}"
    return f"{where}: {exc}"


def _context(
    tls: bool, ca_file: str | None, cert_file: str | None, key_file: str | None
) -> ssl.SSLContext | None:
    if not (tls or ca_file or cert_file):
        return None
    if bool(cert_file) != bool(key_file):
        raise click.UsageError("--cert and --key go together (mutual TLS)")
    try:
        context = ssl.create_default_context(cafile=ca_file)
        if cert_file:
            context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise click.UsageError(f"cannot load the TLS files (--ca/--cert/--key): {reason}") from exc
    return context


@click.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--to", "target", required=True, help="mllp://host:port or mllps://host:port (TLS)")
@click.option(
    "--ca", "ca_file", type=click.Path(exists=True), help="CA bundle to verify the server"
)
@click.option("--cert", "cert_file", type=click.Path(exists=True), help="client certificate (mTLS)")
@click.option("--key", "key_file", type=click.Path(exists=True), help="client private key (mTLS)")
@click.option("--timeout", default="30s", show_default=True, help="connect and ACK timeout")
def send(
    files: tuple[Path, ...],
    target: str,
    ca_file: str | None,
    cert_file: str | None,
    key_file: str | None,
    timeout: str,
) -> None:
    """Send HL7v2 messages from FILES and print the ACK of each.

    Exit status: 0 when every ACK is AA/CA, 1 when any is negative, 2 when sending failed
    (one line on stderr says why; the ACKs received before are printed).
    """
    url = urlsplit(target)
    try:
        port = url.port
    except ValueError:
        port = None
    if url.scheme not in ("mllp", "mllps") or not url.hostname or not port:
        raise click.BadParameter(
            "expected mllp://host:port or mllps://host:port", param_hint="--to"
        )
    try:
        seconds = parse_duration(timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timeout") from exc
    context = _context(url.scheme == "mllps", ca_file, cert_file, key_file)
    messages = [m for f in files for m in split_messages(f.read_bytes())]
    codes: list[str] = []

    def print_ack(ack: bytes) -> None:
        click.echo(ack.replace(b"\r", b"\n").decode("utf-8", "replace").rstrip("\n"))
        codes.append(_ack_code(ack))

    try:
        asyncio.run(_exchange(url.hostname, port, messages, context, seconds, print_ack))
    except (OSError, TimeoutError, FramingError, ssl.SSLError) as exc:
        click.echo(f"passerelle send: {explain(exc, f'{url.hostname}:{port}', timeout)}", err=True)
        sys.exit(2)
    sys.exit(1 if any(code not in ("AA", "CA") for code in codes) else 0)


COMMANDS = [send]
