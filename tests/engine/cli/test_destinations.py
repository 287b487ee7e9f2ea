"""``passerelle destinations`` and the circuit in ``messages list``, from a store a running
engine wrote (no engine needed); ``passerelle reload`` without an engine."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.message import DeliveryState
from engine.store.base import DestinationStatus
from engine.store.sqlite import SqliteStore
from tests.engine.cli.test_replay import routed, run


async def test_destinations_show_the_circuit_and_deliveries_per_state(tmp_path: Path) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(
        f"version: 1\nstore: {{path: {tmp_path / 'store.db'}}}\n"
        f"destinations:\n  platform: {{type: file, directory: {tmp_path / 'out'}}}\n"
        f"  archive: {{type: file, directory: {tmp_path / 'archive'}}}\n"
        "routes:\n  - {name: all, to: [platform, archive]}\n"
    )
    probe = datetime(2026, 12, 1, 10, 0, 30, tzinfo=UTC)
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    try:
        waiting = await routed(store, "mllp_in", DeliveryState.RETRYING)
        await routed(store, "mllp_in", DeliveryState.SENT)
        status = DestinationStatus(
            "platform", "open", 5, probe - timedelta(seconds=30), probe, "HTTP 503", 1
        )
        await store.save_destination_status(status)
    finally:
        await store.close()

    table = await asyncio.to_thread(run, config, "destinations")
    assert table.exit_code == 0, table.output
    header, *rows = table.output.splitlines()
    assert header.split()[:4] == ["DESTINATION", "CIRCUIT", "FAILS", "NEXT"]
    assert rows[0].split()[:3] == ["platform", "open", "5"]
    assert rows[0].endswith("HTTP 503")
    assert rows[1].split()[:3] == ["archive", "closed", "0"]

    as_json = await asyncio.to_thread(run, config, "destinations", "--json")
    platform, archive = (json.loads(line) for line in as_json.output.splitlines())
    assert platform["circuit"] == "open" and platform["next_probe_at"] == probe.isoformat()
    assert platform["deliveries"] == {"pending": 0, "retrying": 1, "sent": 1, "dead": 0}
    assert archive == {
        "destination": "archive",
        "circuit": "closed",
        "failures": 0,
        "opens": 0,
        "next_probe_at": None,
        "last_error": "",
        "deliveries": {"pending": 0, "retrying": 0, "sent": 0, "dead": 0},
        "paused": False,
    }

    listed = await asyncio.to_thread(run, config, "messages", "list")
    (line,) = [x for x in listed.output.splitlines() if x.startswith(waiting.id)]
    assert line.endswith("platform:retrying (circuit open)")
    sent_line = [x for x in listed.output.splitlines() if "platform:sent" in x]
    assert sent_line and "circuit" not in sent_line[0]  # finished: not waiting for it
    shown = await asyncio.to_thread(run, config, "messages", "show", waiting.id)
    assert "    circuit      open: waits for the destination, spending no attempts" in shown.output


async def test_reload_without_a_running_engine_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(f"version: 1\nengine: {{home: {tmp_path}}}\n")
    result = await asyncio.to_thread(run, config, "reload")
    assert result.exit_code == 1
    assert f"no running engine found ({tmp_path}/engine.json absent or stale)" in result.output
    config.write_text("version: 1\nroutes:\n  - {name: x, to: [nowhere]}\n")
    broken = await asyncio.to_thread(run, config, "reload")
    assert broken.exit_code == 1 and "error[unknown-destination]" in broken.output
