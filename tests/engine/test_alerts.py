"""Alert hooks and the alert command (a real subprocess)."""

from __future__ import annotations

import json
import stat
from collections.abc import Mapping
from pathlib import Path

import pytest

from engine.alerts import CommandAlert, raise_alert


def recorder(tmp_path: Path, status: int = 0) -> tuple[Path, Path]:
    """A script appending its last argument and its stdin, one JSON line per call."""
    out = tmp_path / "alerts.jsonl"
    script = tmp_path / "alert.sh"
    script.write_text(
        f'#!/bin/sh\nprintf \'{{"argv": "%s", "stdin": %s}}\\n\' "$1" "$(cat)" >> {out}\n'
        f"exit {status}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, out


async def test_the_command_gets_the_event_and_json_details(tmp_path: Path) -> None:
    script, out = recorder(tmp_path)
    alert = CommandAlert([str(script)])
    alert("store.full", {"error": "database or disk is full"})
    alert("store.full.resolved", {"refused": 3, "seconds": 1.5})
    await alert.drain()
    lines = sorted((json.loads(x) for x in out.read_text().splitlines()), key=str)
    assert sorted(x["argv"] for x in lines) == ["store.full", "store.full.resolved"]
    resolved = next(x for x in lines if x["argv"] == "store.full.resolved")
    assert resolved["stdin"] == {"event": "store.full.resolved", "refused": 3, "seconds": 1.5}


async def test_a_failing_or_missing_command_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script, _ = recorder(tmp_path, status=3)
    failing, missing = CommandAlert([str(script)]), CommandAlert([str(tmp_path / "absent")])
    failing("destination.paused", {"destination": "platform"})
    missing("destination.paused", {"destination": "platform"})
    await failing.drain()
    await missing.drain()
    messages = {r.getMessage() for r in caplog.records}
    assert {"Alert command failed.", "Alert command could not start."} <= messages


def test_a_failing_hook_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def broken(event: str, details: Mapping[str, object]) -> None:
        raise RuntimeError("bug")

    raise_alert([broken, lambda e, d: seen.append(e)], "store.full", {})
    assert seen == ["store.full"]
    assert any(r.getMessage() == "Alert hook failed." for r in caplog.records)
