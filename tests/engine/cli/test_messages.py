"""``passerelle messages list|show`` tables: sized to their content, nothing cut, the id
the sender gave, and no stale error on a delivery that finally went through."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner, Result

from engine.cli import main
from engine.cli.messages import columns
from engine.message import HL7V2, DeliveryState, Envelope, MessageState
from engine.store.base import RoutingOutcome
from engine.store.sqlite import SqliteStore

CDA = "application/cda+xml"


async def stored(
    store: SqliteStore, env: Envelope, attempts: list[tuple[DeliveryState, str]]
) -> None:
    await store.accept(env)
    await store.start_processing(env.id)
    outcome = RoutingOutcome(MessageState.ROUTED, "r", [("platform_fr_core", "to_platform")])
    (delivery,) = await store.finish_routing(env.id, outcome)
    for state, detail in attempts:
        later = datetime.now(UTC) if state is DeliveryState.RETRYING else None
        await store.record_attempt(delivery.id, state, detail, next_attempt_at=later)


async def setup(tmp_path: Path) -> tuple[Path, Envelope, Envelope]:
    config = tmp_path / "routes.yaml"
    config.write_text(f"version: 1\nstore: {{path: {tmp_path / 'store.db'}}}\n")
    adt = Envelope.new(
        channel="mllp_in",
        raw=b"MSH|x",
        content_type=HL7V2,
        metadata={
            "hl7.message_type": "ADT",
            "hl7.trigger_event": "A01",
            "hl7.control_id": "ADT20261120093000001",
        },
    )
    cda = Envelope.new(
        channel="cda_in",
        raw=b"<ClinicalDocument/>",
        content_type=CDA,
        metadata={"cda.id": "1.2.250.1.999.1.1.1^DOC0001"},
    )
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    try:
        retried = [
            (DeliveryState.RETRYING, "HTTP 503 from the platform"),
            (DeliveryState.SENT, "201 Patient/1"),
        ]
        await stored(store, adt, retried)
        await stored(store, cda, [(DeliveryState.DEAD, "refused: XDSRegistryMetadataError")])
    finally:
        await store.close()
    return config, adt, cda


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "-c", str(config)])


def test_columns_are_as_wide_as_their_widest_cell() -> None:
    lines = columns(("ID", "TYPE", "LAST"), [("1", "application/cda+xml", "x"), ("22", "A", "")])
    assert lines == [
        "ID  TYPE                 LAST",
        "1   application/cda+xml  x",
        "22  A",
    ]


async def test_list_shows_full_content_types_and_the_senders_ids(tmp_path: Path) -> None:
    config, adt, cda = await setup(tmp_path)
    listed = await asyncio.to_thread(run, config, "messages", "list")
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.output.splitlines()
    by_id = {row.split()[0]: row for row in rows}
    assert by_id[cda.id].split()[4:] == [
        CDA,
        "1.2.250.1.999.1.1.1^DOC0001",
        "routed",
        "platform_fr_core:dead",
    ]
    assert by_id[adt.id].split()[4:] == [
        "ADT^A01",
        "ADT20261120093000001",
        "routed",
        "platform_fr_core:sent",
    ]
    # every column starts where its heading does
    for heading in ("CHANNEL", "TYPE", "CONTROL ID", "STATE", "DELIVERIES"):
        at = header.index(heading)
        assert all(row[at - 2 : at] == "  " and row[at] != " " for row in rows), heading


async def test_a_delivery_sent_after_retries_shows_no_stale_last_error(tmp_path: Path) -> None:
    config, adt, cda = await setup(tmp_path)
    shown = await asyncio.to_thread(run, config, "messages", "show", adt.id)
    assert shown.exit_code == 0, shown.output
    out = shown.output
    assert "Control id   ADT20261120093000001" in out
    assert "platform_fr_core (route to_platform): sent, 2 attempt(s)" in out
    assert "last error" not in out
    assert "HTTP 503 from the platform" in out  # the attempt that failed is still listed
    dead = await asyncio.to_thread(run, config, "messages", "show", cda.id)
    assert "    last error   refused: XDSRegistryMetadataError" in dead.output
