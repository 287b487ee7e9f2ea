"""PAM-FR intake end to end: an engine built from routes.yaml text, real MLLP sockets.

* the ISO 8859-1 sample is read correctly (facts, accented names from the stored bytes) and
  acknowledged in 8859/1;
* a strict channel refuses an invalid message with AE and ERR segment/field/code, and the
  store records it rejected with the findings;
* an unknown event is acknowledged AA and ends filtered with the reason;
* a route ``when: {dmp_opposition: "true"}`` takes the ANS sample opposed to DMP feeding.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.app import Engine
from engine.formats.hl7v2 import parse
from engine.message import MessageState
from engine.store.base import MessageQuery, StoredMessage
from tests.engine.formats.hl7v2.pamfr.support import (
    CONSENTS,
    needs_corpus,
    sample,
    with_event,
    with_segment,
)
from tests.support.engines import mllp_port, running_engine
from tests.support.mllp import MllpPeer, msa

CONFIG = """\
version: 1
engine: {{home: {home}, workers: 2, shutdown_grace: 2s}}
channels:
  gam: {{type: mllp, listen: "127.0.0.1:0", frame_timeout: 2s}}
  gam_strict:
    type: mllp
    listen: "127.0.0.1:0"
    frame_timeout: 2s
    hl7: {{profile: pam_fr, validation: strict, unknown_events: refuse}}
destinations:
  archive: {{type: file, directory: {home}/out}}
  no_dmp: {{type: file, directory: {home}/no_dmp}}
routes:
  - name: dmp_opposed
    when: {{message_type: ADT, dmp_opposition: true}}
    to: [no_dmp]
  - name: qualified_admissions
    when: {{pam_event: [A01, A04], movement_action: INSERT, ins_qualified: "true"}}
    to: [archive]
"""


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    async with running_engine(CONFIG.format(home=tmp_path)) as eng:
        yield eng


async def finished(engine: Engine, control_id: str) -> StoredMessage:
    while True:
        found = await engine.store.list_messages(MessageQuery(control_id=control_id))
        if found and found[0].state.finished:
            return found[0]
        await asyncio.sleep(0.02)


async def test_latin1_admission_is_read_and_acknowledged_in_8859_1(engine: Engine) -> None:
    raw = sample("adt_a01_admission_latin1.hl7")
    assert "LEFÈVRE".encode("latin-1") in raw
    async with MllpPeer("127.0.0.1", mllp_port(engine, "gam")) as peer:
        ack = await peer.exchange(raw)
    # The ACK is in ISO 8859-1 and says so in its MSH-18
    msh = ack.split(b"\r")[0].decode("latin-1").split("|")
    assert msh[17] == "8859/1" and msa(ack)[1:3] == ["AA", "ADT20261120093000011"]
    assert b"ERR|" not in ack  # the sample is clean: no warning either
    stored = await finished(engine, "ADT20261120093000011")
    assert stored.state is MessageState.ROUTED and stored.envelope.raw == raw
    md = stored.envelope.metadata
    assert (md["hl7.codec"], md["pam.event"], md["pam.movement_action"]) == (
        "iso8859-1",
        "A01",
        "INSERT",
    )
    assert (md["ins.kind"], md["ins.test"], md["ins.qualified"]) == ("nir", "true", "true")
    assert (md["identity.status"], md["dmp.status"], md["validation.findings"]) == (
        "VALI",
        "ACTIF",
        "0",
    )
    msg = parse(stored.envelope.raw)
    assert msg.get_all("PID-5.1") == ["MOREAU", "LEFÈVRE"]
    assert msg.get("PID-5[2].3") == "Élodie Marie" and msg.get("PID-11.1") == "12 rue de l'Église"
    # A non-ASCII header value mirrored in the ACK shows its bytes are ISO 8859-1
    facility = "CHU-SAINT-ÉTIENNE".encode("latin-1")
    other = raw.replace(b"|CHU-EXEMPLE^", b"|" + facility + b"^").replace(b"0011|P|", b"0012|P|")
    async with MllpPeer("127.0.0.1", mllp_port(engine, "gam")) as peer:
        ack = await peer.exchange(other)
    assert msa(ack)[1:3] == ["AA", "ADT20261120093000012"]
    assert b"|PASSERELLE|GRADES|GAM|" + facility + b"^123456789^FINEG|" in ack


async def test_strict_channel_refuses_an_invalid_message_with_ae_and_err(engine: Engine) -> None:
    bad = with_segment(
        sample("adt_a03_discharge.hl7"),
        "ZBE",
        "ZBE|002^CHU^1|20240306110000|20260309102840||INSERT|N||Urgences^^^^^^UF^^^8782||HMS",
    )
    async with MllpPeer("127.0.0.1", mllp_port(engine, "gam_strict")) as peer:
        ack = await peer.exchange(bad)
        assert msa(ack)[1:3] == ["AE", "ADT20261124110000004"]
        errs = [s.decode().split("|") for s in ack.split(b"\r") if s.startswith(b"ERR|")]
        assert [(e[2], e[3].split("^")[0], e[4]) for e in errs if e[4] == "E"] == [
            ("ZBE^1^3", "198", "E"),
            ("ZBE^1^4", "101", "E"),
            ("ZBE^1^5", "103", "E"),
            ("ZBE^1^9", "101", "E"),
        ]
        a08 = await peer.exchange(with_event(sample("adt_a01_admission.hl7"), "A08"))
        assert msa(a08)[1] == "AE" and b"|201^Unsupported event code^HL70357|E" in a08
    rejected = await engine.store.list_messages(MessageQuery(state=MessageState.REJECTED))
    by_id = {m.envelope.metadata["hl7.control_id"]: m for m in rejected}
    invalid = by_id["ADT20261124110000004"]
    assert invalid.reason.startswith("PAM-FR validation failed: 4 error(s)")
    assert invalid.envelope.raw == bad
    report = json.loads(invalid.envelope.metadata["validation.report"])
    assert [r["at"] for r in report if r["sev"] == "E"] == ["ZBE-3", "ZBE-4", "ZBE-5", "ZBE-9"]
    assert by_id["ADT20261120093000001"].reason.startswith("event A08 is not used in PAM-FR")


async def test_unknown_event_on_a_lenient_channel_is_acked_and_filtered(engine: Engine) -> None:
    a08 = with_event(sample("adt_a01_admission.hl7"), "A08")
    async with MllpPeer("127.0.0.1", mllp_port(engine, "gam")) as peer:
        ack = await peer.exchange(a08)
    assert msa(ack)[1] == "AA" and msa(ack)[3].startswith("event A08 is not used in PAM-FR")
    stored = await finished(engine, "ADT20261120093000001")
    assert stored.state is MessageState.FILTERED
    assert stored.reason.startswith("dropped at intake: event A08 is not used in PAM-FR")


@needs_corpus
async def test_dmp_opposition_route_takes_the_opposed_consent_sample(engine: Engine) -> None:
    opposed = (CONSENTS / "NonConsentementConsultation_OppositionAlimentation.er7").read_bytes()
    allowed = (CONSENTS / "ConsentementConsultation_NonOppositionAlimentation.er7").read_bytes()
    async with MllpPeer("127.0.0.1", mllp_port(engine, "gam")) as peer:
        assert msa(await peer.exchange(opposed))[1] == "AA"
        assert msa(await peer.exchange(allowed))[1] == "AA"
    got = {cid: await finished(engine, cid) for cid in ("3977", "3975")}
    assert got["3977"].envelope.metadata["dmp.opposition"] == "true"
    assert (got["3977"].state, got["3977"].reason) == (
        MessageState.ROUTED,
        "matched route 'dmp_opposed'",
    )
    assert got["3975"].reason == "matched route 'qualified_admissions'"
    deliveries = await engine.store.deliveries(got["3977"].envelope.id)
    assert [d.destination for d in deliveries] == ["no_dmp"]
