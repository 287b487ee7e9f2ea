"""``passerelle keys new`` and ``keys rotate`` against a real encrypted SQLite store."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from click.testing import CliRunner

from engine.assembly import build_store
from engine.cli import main
from engine.config.loader import load_config
from engine.message import HL7V2, Envelope

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "hl7v2" / "adt_a01_admission.hl7"


async def accept(config: Path, env: Envelope) -> None:
    store = build_store(load_config(config))
    await store.open()
    await store.accept(env)
    await store.close()


async def raw_of(config: Path, message_id: str) -> bytes:
    store = build_store(load_config(config))
    await store.open()
    try:
        return (await store.get_message(message_id)).envelope.raw
    finally:
        await store.close()


def test_new_key_then_rotate_lets_the_old_key_go(tmp_path: Path) -> None:
    keyring = tmp_path / "keys" / "store.keys"
    keyring.parent.mkdir()
    config = tmp_path / "routes.yaml"
    config.write_text(
        f"version: 1\nstore:\n  path: {tmp_path / 'store.db'}\n"
        f"  encryption: {{keyring_file: {keyring}}}\n"
    )
    runner = CliRunner()
    first = runner.invoke(main, ["keys", "new", "-c", str(config)])
    assert first.exit_code == 0, first.output
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600
    env = Envelope.new(channel="in", raw=SAMPLE.read_bytes(), content_type=HL7V2)
    asyncio.run(accept(config, env))
    second = runner.invoke(main, ["keys", "new", "-c", str(config)])
    assert second.exit_code == 0 and "now current" in second.output, second.output
    lines = keyring.read_text().splitlines()
    assert len(lines) == 2 and lines[0].split()[0] in second.output
    rotated = runner.invoke(main, ["keys", "rotate", "-c", str(config)])
    assert rotated.exit_code == 0, rotated.output
    assert "1 payloads re-encrypted" in rotated.output
    keyring.write_text(lines[0] + "\n")  # the old key is gone
    assert asyncio.run(raw_of(config, env.id)) == env.raw
    assert b"MOREAU" not in (tmp_path / "store.db").read_bytes()


def test_rotate_without_encryption_and_a_damaged_keyring_are_clear_errors(
    tmp_path: Path,
) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(f"version: 1\nstore: {{path: {tmp_path / 'store.db'}}}\n")
    runner = CliRunner()
    refused = runner.invoke(main, ["keys", "rotate", "-c", str(config)])
    assert refused.exit_code == 1 and "store.encryption is not configured" in refused.output
    damaged = tmp_path / "store.keys"
    damaged.write_text("k1 not-base64\n")
    new = runner.invoke(main, ["keys", "new", "--file", str(damaged)])
    assert new.exit_code == 1
    assert "entry 1: expected '<id> <base64 of 32 bytes>'" in new.output
    assert "not-base64" not in new.output
