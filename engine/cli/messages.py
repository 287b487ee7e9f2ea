"""``passerelle messages list|show``: look messages up in the store."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from engine.cli.common import config_option, load_or_exit, with_store
from engine.cli.operator import audit
from engine.errors import ConfigError
from engine.message import DeliveryState, MessageState
from engine.store.base import (
    DeliveryRecord,
    DestinationStatus,
    MessageQuery,
    Store,
    StoredMessage,
)


def local_time(ts: datetime | None) -> str:
    """A stored time in the local zone, to the second ("-" for none)."""
    return ts.astimezone().strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def control_id(m: StoredMessage) -> str:
    """The id the sender gave the message: MSH-10 for HL7v2, the document id for a CDA,
    the Message-ID for an MSSanté mail; empty when there is none."""
    md = m.envelope.metadata
    for key in ("hl7.control_id", "cda.id", "mssante.message_id"):
        if md.get(key):
            return str(md[key])
    return ""


def _kind(m: StoredMessage) -> str:
    md = m.envelope.metadata
    if md.get("hl7.message_type"):
        return "^".join(p for p in (md["hl7.message_type"], md.get("hl7.trigger_event", "")) if p)
    return m.envelope.content_type


@click.group()
def messages() -> None:
    """List and inspect stored messages."""


@messages.command("list")
@config_option
@click.option("--state", type=click.Choice([s.value for s in MessageState]))
@click.option("--channel")
@click.option("--control-id", help="MSH-10 of the message")
@click.option("--destination", help="only messages with a delivery to this destination")
@click.option("--delivery-state", type=click.Choice([s.value for s in DeliveryState]))
@click.option("--since", type=click.DateTime(), help="received at or after (local time)")
@click.option("--until", type=click.DateTime(), help="received before (local time)")
@click.option("--patient", "--ipp", "ipp", help="messages of this IPP (patient index)")
@click.option("--nda", help="messages of this NDA or visit number (patient index)")
@click.option("--ins", help="messages of this INS matricule (patient index)")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def list_(
    config: Path,
    state: str | None,
    channel: str | None,
    control_id: str | None,
    destination: str | None,
    delivery_state: str | None,
    since: datetime | None,
    until: datetime | None,
    ipp: str | None,
    nda: str | None,
    ins: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List messages, newest first. --patient/--nda/--ins search the patient index (the
    key of store.patient_index is needed; the search is audited, without the value)."""
    searched = [(k, v) for k, v in (("ipp", ipp), ("nda", nda), ("ins", ins)) if v]
    if len(searched) > 1:
        raise click.UsageError("give one of --patient, --nda, --ins")
    key = _patient_key(config, *searched[0]) if searched else None
    query = MessageQuery(
        channel=channel,
        state=MessageState(state) if state else None,
        since=since.astimezone() if since else None,
        until=until.astimezone() if until else None,
        control_id=control_id,
        destination=destination,
        delivery_state=DeliveryState(delivery_state) if delivery_state else None,
        patient_key=key,
        limit=limit,
    )

    async def fetch(
        store: Store,
    ) -> tuple[list[tuple[StoredMessage, list[DeliveryRecord]]], dict[str, str]]:
        found = await store.list_messages(query)
        if searched:
            await audit(store, "message.search", "messages", detail=f"by {searched[0][0]}")
        circuits = {s.destination: s.state for s in await store.destination_statuses()}
        return [(m, await store.deliveries(m.envelope.id)) for m in found], circuits

    rows, circuits = with_store(config, fetch)
    if as_json:
        for m, ds in rows:
            click.echo(json.dumps(_summary(m, ds, circuits), ensure_ascii=False))
        return
    table = [_row(m, ds, circuits) for m, ds in rows]
    for line in columns(
        ("ID", "RECEIVED", "CHANNEL", "TYPE", "CONTROL ID", "STATE", "DELIVERIES"), table
    ):
        click.echo(line)


def _patient_key(config: Path, kind: str, value: str) -> bytes:
    from engine.patient_index import PatientIdKind, patient_key
    from engine.patient_secret import patient_secret

    try:
        secret = patient_secret(load_or_exit(config, lenient=True))
    except ConfigError as exc:
        raise click.ClickException(f"patient search needs the patient index key: {exc}") from exc
    if secret is None:
        raise click.ClickException(
            "patient search needs the patient index key: set store.patient_index.secret, or"
            " run where the engine's home (and its patient-index.key) is"
        )
    if not value.strip():
        raise click.BadParameter("empty identifier", param_hint=f"--{kind}")
    return patient_key(secret, PatientIdKind[kind.upper()], value)


def _row(m: StoredMessage, ds: list[DeliveryRecord], circuits: dict[str, str]) -> tuple[str, ...]:
    env = m.envelope
    deliveries = ", ".join(_delivery(d, circuits) for d in ds) or "-"
    return (
        env.id,
        local_time(env.received_at),
        env.channel,
        _kind(m),
        control_id(m) or "-",
        m.state.value,
        deliveries,
    )


def columns(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Lines of a table whose columns are as wide as their widest cell (the last one is not
    padded); nothing is cut."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


def _delivery(d: DeliveryRecord, circuits: dict[str, str]) -> str:
    """``dest:state``, with ``(circuit open)`` while an unfinished delivery's circuit is not
    closed: it waits for the destination, spending no attempts."""
    circuit = circuits.get(d.destination, "closed")
    paused = not d.state.finished and circuit != "closed"
    return f"{d.destination}:{d.state.value}" + (f" (circuit {circuit})" if paused else "")


def _summary(
    m: StoredMessage, ds: list[DeliveryRecord], circuits: dict[str, str]
) -> dict[str, Any]:
    env = m.envelope
    return {
        "id": env.id,
        "received_at": env.received_at.isoformat(),
        "channel": env.channel,
        "content_type": env.content_type,
        "control_id": control_id(m) or None,
        "type": _kind(m),
        "state": m.state.value,
        "reason": m.reason,
        "deliveries": [
            {
                "id": d.id,
                "destination": d.destination,
                "state": d.state.value,
                "attempts": d.attempts,
                "last_error": d.last_error,
                "circuit": circuits.get(d.destination, "closed"),
            }
            for d in ds
        ],
    }


@messages.command("show")
@config_option
@click.argument("message_id")
@click.option("--raw", is_flag=True, help="also print the message content (contains patient data)")
def show(config: Path, message_id: str, raw: bool) -> None:
    """Show one message: metadata, state history, deliveries and their attempts."""

    async def fetch(
        store: Store,
    ) -> tuple[StoredMessage, list[Any], list[Any], dict[str, DestinationStatus]]:
        m = await store.get_message(message_id)
        ds = await store.deliveries(message_id)
        rows = []
        for d in ds:
            waits = await store.order_blocker(d) if d.order_key and not d.state.finished else None
            rows.append((d, await store.attempts(d.id), waits))
        circuits = {s.destination: s for s in await store.destination_statuses()}
        if raw:
            await audit(store, "payload.view", message_id)
        return m, await store.history(message_id), rows, circuits

    m, history, deliveries, circuits = with_store(config, fetch)
    env = m.envelope
    click.echo(f"Message      {env.id}")
    click.echo(f"Channel      {env.channel}")
    click.echo(f"Received     {local_time(env.received_at)}")
    click.echo(f"Content      {env.content_type}, {len(env.raw)} bytes")
    click.echo(f"State        {m.state.value}" + (f" ({m.reason})" if m.reason else ""))
    if control_id(m):
        click.echo(f"Control id   {control_id(m)}")
    click.echo("Metadata")
    for key in sorted(env.metadata):
        click.echo(f"  {key:<28} {env.metadata[key]}")
    click.echo("History")
    for t in history:
        source = t.from_state.value if t.from_state else "-"
        reason = f"  {t.reason}" if t.reason else ""
        click.echo(f"  {local_time(t.at)}  {source:>10} → {t.to_state.value:<10}{reason}")
    click.echo("Deliveries" if deliveries else "Deliveries   none")
    for d, attempts, waits in deliveries:
        click.echo(f"  {d.destination} (route {d.route}): {d.state.value}, {d.attempts} attempt(s)")
        if waits is not None:
            click.echo(f"    waiting for  message {waits.message_id} ({waits.state}), same key")
        circuit = circuits.get(d.destination)
        if circuit is not None and circuit.state != "closed" and not d.state.finished:
            click.echo(
                f"    circuit      {circuit.state}: waits for the destination, spending no"
                f" attempts (next probe {local_time(circuit.next_probe_at)})"
            )
        if d.holds_key and d.state is DeliveryState.DEAD:
            click.echo("    holds key    later messages of its key wait: replay or release it")
        if d.state is DeliveryState.SENT and d.detail:
            click.echo(f"    delivered    {d.detail}")
        if d.last_error and d.state is not DeliveryState.SENT:  # the attempts keep the history
            click.echo(f"    last error   {d.last_error}")
        if d.next_attempt_at and not d.state.finished:
            click.echo(f"    next attempt {local_time(d.next_attempt_at)}")
        for a in attempts:
            click.echo(f"    #{a.number} {local_time(a.at)} {a.outcome.value:<8} {a.detail}")
    if raw:
        click.echo("Content")
        codec = env.metadata.get("hl7.codec", "utf-8")
        click.echo(env.raw.replace(b"\r", b"\n").decode(codec, "replace"))


COMMANDS = [messages]
