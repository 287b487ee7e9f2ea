"""``passerelle send``: send HL7v2 files to an MLLP listener and print each ACK."""

from __future__ import annotations

import asyncio
import ssl
import sys
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
    host: str, port: int, messages: list[bytes], context: ssl.SSLContext | None, timeout: float
) -> list[bytes]:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=context), timeout
    )
    decoder = FrameDecoder(16 * 1024 * 1024)
    acks: list[bytes] = []
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
            acks.extend(frames)
    finally:
        writer.close()
    return acks


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

    Exit status: 0 when every ACK is AA/CA, 1 when any is negative, 2 when sending failed.
    """
    url = urlsplit(target)
    if url.scheme not in ("mllp", "mllps") or not url.hostname or not url.port:
        raise click.BadParameter(
            "expected mllp://host:port or mllps://host:port", param_hint="--to"
        )
    context = None
    if url.scheme == "mllps" or ca_file or cert_file:
        context = ssl.create_default_context(cafile=ca_file)
        if cert_file:
            context.load_cert_chain(cert_file, key_file)
    messages = [m for f in files for m in split_messages(f.read_bytes())]
    try:
        acks = asyncio.run(
            _exchange(url.hostname, url.port, messages, context, parse_duration(timeout))
        )
    except (OSError, TimeoutError, FramingError, ssl.SSLError) as exc:
        click.echo(f"passerelle send: {type(exc).__name__}: {exc}", err=True)
        sys.exit(2)
    negative = False
    for ack in acks:
        click.echo(ack.replace(b"\r", b"\n").decode("utf-8", "replace").rstrip("\n"))
        negative |= _ack_code(ack) not in ("AA", "CA")
    sys.exit(1 if negative else 0)


COMMANDS = [send]
