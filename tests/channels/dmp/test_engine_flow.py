"""The whole chain from routes.yaml: a file drop of CDA documents → store → route →
``dmp_xds`` → the test DMP. A document without a qualified INS ends in the dead letter
with its reason (shown by ``passerelle messages show``); an XML attack dropped among
good documents is refused without harming them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from channels.directory.source import DirectorySource
from engine.app import Engine
from engine.assembly import build_engine
from engine.cli import main
from engine.config.loader import load_config_text
from engine.message import DeliveryState, MessageState
from engine.sandbox.dmp_endpoint import DmpEndpoint
from engine.store.base import MessageQuery
from tests.channels.dmp.conftest import Keys
from tests.engine.formats.cda.builders import BILLION_LAUGHS, TEST_INS, cda

CONFIG = """\
version: 1
engine: {{home: "{home}", workers: 2, shutdown_grace: 2s}}
channels:
  cda_in:
    type: directory
    directory: "{home}/in"
    poll_interval: 50ms
    min_age: 0s
destinations:
  dmp:
    type: dmp_xds
    url: "{url}"
    source_id: 1.2.250.1.999.1.1
    content_type_code: "07"
    tls: {{cert_file: "{tls_cert}", key_file: "{tls_key}", ca_file: "{ca}"}}
    vihf:
      signing_cert_file: "{org_cert}"
      signing_key_file: "{org_key}"
      structure_id: "1120459876"
      lps_homologation: DMP-LPS-TEST
      healthcare_facility_type: SA25
      subject_id: "801234534765"
routes:
  - name: cda_to_dmp
    when: {{content_type: application/cda+xml}}
    to: [dmp]
"""


def config_text(home: Path, keys: Keys, url: str) -> str:
    return CONFIG.format(
        home=home,
        url=url,
        tls_cert=keys.tls.client_cert,
        tls_key=keys.tls.client_key,
        ca=keys.tls.ca_cert,
        org_cert=keys.org_cert,
        org_key=keys.org_key,
    )


async def settled(engine: Engine, count: int) -> list[tuple[MessageState, list[DeliveryState]]]:
    async def states() -> list[tuple[MessageState, list[DeliveryState]]]:
        found = await engine.store.list_messages(MessageQuery(limit=100))
        return [
            (m.state, [d.state for d in await engine.store.deliveries(m.envelope.id)])
            for m in found
        ]

    async with asyncio.timeout(10):
        while True:
            current = await states()
            done = [s for s in current if s[0].finished and all(d.finished for d in s[1])]
            if len(done) == count == len(current):
                return current
            await asyncio.sleep(0.02)


async def test_file_drop_to_dmp_with_dead_letter_and_attack(
    tmp_path: Path, keys: Keys, endpoint: DmpEndpoint
) -> None:
    text = config_text(tmp_path, keys, endpoint.url)
    (tmp_path / "routes.yaml").write_text(text)
    engine = build_engine(load_config_text(text))
    await engine.start()
    try:
        inbox = tmp_path / "in"
        (inbox / "good.xml").write_bytes(cda())
        (inbox / "no-ins.xml").write_bytes(cda(doc_id="1.2.250.1.999.7.3", ins=None))
        (inbox / "attack.xml").write_bytes(BILLION_LAUGHS)
        (inbox / "level1.xml").write_bytes(cda(doc_id="1.2.250.1.999.7.4", level=1))
        assert isinstance(engine.sources[0], DirectorySource)
        states = await settled(engine, 4)
    finally:
        await engine.stop()
    assert sorted(states) == sorted(
        [
            (MessageState.ROUTED, [DeliveryState.SENT]),
            (MessageState.ROUTED, [DeliveryState.SENT]),
            (MessageState.ROUTED, [DeliveryState.DEAD]),
            (MessageState.REJECTED, []),
        ]
    )
    assert len(endpoint.accepted) == 2 and len(endpoint.requests) == 2
    assert (
        (tmp_path / "in" / "error" / "attack.xml.reason.txt")
        .read_text()
        .startswith("document declares a DTD")
    )
    assert sorted(p.name for p in (tmp_path / "in" / "processed").iterdir()) == [
        "good.xml",
        "level1.xml",
        "no-ins.xml",
    ]
    engine = build_engine(load_config_text(text))
    await engine.store.open()
    try:
        query = MessageQuery(destination="dmp", delivery_state=DeliveryState.DEAD)
        (dead,) = await engine.store.list_messages(query)
    finally:
        await engine.store.close()
    assert dead.envelope.metadata["file.name"] == "no-ins.xml"
    args = ["messages", "show", dead.envelope.id, "-c", str(tmp_path / "routes.yaml")]
    result = await asyncio.to_thread(CliRunner().invoke, main, args)  # the CLI runs its own loop
    assert result.exit_code == 0, result.output
    assert "dead" in result.output
    assert "ANS 903 (INS non présent dans le document)" in result.output
    assert TEST_INS not in result.output
