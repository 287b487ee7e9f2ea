"""SIGINT while a costly frame is being examined: the engine stops at once (real process).

The frame (1 MiB, a PID-3 of ~1,000,000 repetitions, limits raised, strict validation)
takes seconds to examine. It is examined in a daemon thread, so the signal is handled at
once and the stop abandons the examination: the sender gets no ACK (nothing was committed;
it will resend), and the process exits cleanly long before the examination could end.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from channels.mllp.framing import encode_frame
from tests.support.engine_process import start_engine, wait_listening
from tests.support.mllp import adt, free_port

pytestmark = pytest.mark.slow

CONFIG = """\
version: 1
engine: {{home: {home}, workers: 2, shutdown_grace: 2s}}
store: {{backend: sqlite, path: {home}/store.db}}
channels:
  mllp_in:
    type: mllp
    listen: "127.0.0.1:{port}"
    max_frame_size: 2MiB
    hl7: {{validation: strict, max_repetitions: 10000000}}
destinations:
  out: {{type: file, directory: {home}/out}}
routes:
  - {{name: all, to: [out]}}
"""


async def test_sigint_during_a_costly_examination_stops_without_acknowledging(
    tmp_path: Path,
) -> None:
    home, port, log = tmp_path / "home", free_port(), tmp_path / "engine.log"
    config = tmp_path / "routes.yaml"
    config.write_text(CONFIG.format(home=home, port=port))
    proc = start_engine(config, log)
    try:
        await asyncio.to_thread(wait_listening, port, proc, log)
        frame = adt("HEAVY-1", pid="PID|1||" + "~" * 1_000_000)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(encode_frame(frame))
        await writer.drain()
        await asyncio.sleep(1.0)  # the frame is in, its examination under way
        proc.send_signal(signal.SIGINT)
        # the engine answers nothing for it and closes the connection
        assert await asyncio.wait_for(reader.read(), timeout=30) == b""
        code = await asyncio.to_thread(proc.wait, 30)
        assert code == 0, log.read_text()
        text = log.read_text()
        assert "Engine stopped." in text
        assert "HEAVY-1" not in text  # never committed, so never logged as accepted
        writer.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
