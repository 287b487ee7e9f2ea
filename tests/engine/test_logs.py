"""Log sanitising: received identifiers and control characters never reach a terminal raw."""

from __future__ import annotations

import logging

from engine.logs import JsonFormatter, TextFormatter, safe_id, strip_controls


def test_safe_id_keeps_ordinary_ids_and_digests_anything_else() -> None:
    assert safe_id("ADT20261120093000001") == "ADT20261120093000001"
    assert safe_id("MSG 42") == "MSG 42"  # inner spaces are printable ASCII
    ansi = "\x1b[31m285017512345656 DUPONT\x1b[0m"
    for odd in (ansi, "x" * 65, "MSGÉ1", " padded", "tab\there"):
        shown = safe_id(odd)
        assert shown.startswith("invalid-id:") and len(shown) == len("invalid-id:") + 12
    assert safe_id(ansi) == safe_id(ansi) != safe_id(ansi + "x")  # stable per value


def test_text_formatter_strips_ansi_and_control_characters() -> None:
    record = logging.makeLogRecord(
        {"msg": "Refused \x1b[2J%s.", "args": ("\x07bell",), "levelname": "WARNING"}
    )
    record.control_id = "\x1b]0;pwned\x07C1"
    line = TextFormatter().format(record)
    assert "\x1b" not in line and "\x07" not in line
    assert "Refused ?bell." in line and "control_id=C1" in line
    assert "\\u001b" in JsonFormatter().format(record)  # JSON escapes control characters


def test_strip_controls_keeps_newlines_and_tabs() -> None:
    assert strip_controls("a\tb\nc") == "a\tb\nc"
    assert strip_controls("a\x1b[1mb\x00") == "ab?"
