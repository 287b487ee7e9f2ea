"""explain_startup: a listening error is put at the channel's ``listen`` key; anything else
is left as the engine wrote it."""

from __future__ import annotations

from pathlib import Path

from engine.cli.startup import explain_startup
from engine.errors import ChannelError, StoreError

CONFIG = """\
version: 1
channels:
  mllp_in: {type: mllp, listen: "[::1]:2575"}
  http_in:
    type: http
    listen: 0.0.0.0:8080
"""


def test_the_channel_is_found_by_its_address(tmp_path: Path) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(CONFIG)
    error = ChannelError("cannot listen on 0.0.0.0:8080: Permission denied")
    assert explain_startup(config, error) == (
        f"{config}:6:13: channel 'http_in': cannot listen on 0.0.0.0:8080: Permission denied;"
        " change 'listen'"
    )
    ipv6 = ChannelError("cannot listen on ::1:2575: address already in use")
    assert explain_startup(config, ipv6).startswith(f"{config}:3:33: channel 'mllp_in': ")


def test_other_errors_and_unknown_addresses_are_left_as_they_are(tmp_path: Path) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(CONFIG)
    assert explain_startup(config, StoreError("disk full")) == "disk full"
    other = ChannelError("cannot listen on 10.0.0.1:9: address already in use")
    assert explain_startup(config, other) == str(other)
    assert explain_startup(tmp_path / "absent.yaml", other) == str(other)
