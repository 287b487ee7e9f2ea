"""An ANS ORU^R01 carrying a CR-BIO, sent over MLLP, ends as an ITI-41 at the test DMP
(engine with the ``dmp_submission_from_hl7`` transform on the route); an ORU whose identity
is not qualified never reaches the DMP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from channels.dmp.destination import DmpDestination
from channels.dmp.vihf import CONFIDENTIALITY_ATTRIBUTE
from channels.mllp.config import MllpSourceConfig
from channels.mllp.server import MllpSource
from engine.app import Engine
from engine.formats.xds import constants as c
from engine.formats.xds import dmp_submission_from_hl7, entry_uuid_for
from engine.message import DeliveryState
from engine.retry import RetryPolicy
from engine.router import CompiledRoute, Router, condition
from engine.sandbox.dmp_endpoint import DmpEndpoint
from engine.store.base import MessageQuery
from engine.store.sqlite import SqliteStore
from tests.channels.dmp.conftest import Keys, destination_config
from tests.engine.formats.cda.builders import cda, oru
from tests.support.corpus import ABSENT, CORPUS
from tests.support.mllp import MllpPeer, msa

ORU_DIR = CORPUS / "hl7v2/ans/Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/ORU"
INIT = ORU_DIR / "Transmission initiale ORU/message_ORU_CR_Bio_INIT_N3_SEGUR.hl7"
RPLC = ORU_DIR / "Remplacement ORU/message_ORU_CR_Bio_RPLC_N3_SEGUR.hl7"


async def run(
    tmp_path: Path, keys: Keys, endpoint: DmpEndpoint, messages: list[bytes]
) -> list[DeliveryState]:
    """Send ``messages`` over MLLP to an engine routing ORU to ``dmp_xds`` with the HL7
    transform; return the delivery states, oldest message first, once all are final."""
    store = SqliteStore(tmp_path / "store.db")
    source = MllpSource("mllp_in", MllpSourceConfig.model_validate({"listen": "127.0.0.1:0"}))
    destination = DmpDestination("dmp", destination_config(keys, endpoint.url))
    route = CompiledRoute("oru_to_dmp", None, (condition("hl7.message_type", ("ORU",)),), ("dmp",))
    engine = Engine(
        store=store,
        router=Router([route]),
        sources=[source],
        destinations={"dmp": destination},
        default_policy=RetryPolicy(max_attempts=1),
        transforms={"oru_to_dmp": dmp_submission_from_hl7()},
        shutdown_grace=1.0,
    )
    await engine.start()
    try:
        async with MllpPeer(*source.address) as peer:
            for raw in messages:
                assert msa(await peer.exchange(raw))[1] == "AA"
        async with asyncio.timeout(10):
            while True:
                states = []
                for m in reversed(await store.list_messages(MessageQuery())):
                    states += [d.state for d in await store.deliveries(m.envelope.id)]
                if len(states) == len(messages) and all(s.finished for s in states):
                    return states
                await asyncio.sleep(0.02)
    finally:
        await engine.stop()


@pytest.mark.skipif(not INIT.is_file(), reason=ABSENT)
async def test_ans_oru_over_mllp_becomes_an_iti41(
    tmp_path: Path, keys: Keys, endpoint: DmpEndpoint
) -> None:
    states = await run(tmp_path, keys, endpoint, [INIT.read_bytes()])
    assert states == [DeliveryState.SENT]
    (received,) = endpoint.accepted
    (entry,) = received.cda_entries.values()
    assert entry["uniqueId"] == "1.2.250.1.213.1.1.9" and entry[c.DE_TYPE] == "11502-2"
    assert received.submission_set[c.SS_PATIENT_ID].startswith("279035121518989^^^&")


async def test_unqualified_identity_never_reaches_the_dmp(
    tmp_path: Path, keys: Keys, endpoint: DmpEndpoint
) -> None:
    states = await run(tmp_path, keys, endpoint, [oru(cda(), pid32="PROV")])
    assert states == [DeliveryState.DEAD]
    assert endpoint.requests == []


@pytest.mark.skipif(not RPLC.is_file(), reason=ABSENT)
async def test_ans_replacement_oru_is_sent_with_rplc(
    tmp_path: Path, keys: Keys, endpoint: DmpEndpoint
) -> None:
    """The ANS sample's v2 names parent ``…1.1.12`` while v1 is ``…1.1.9`` (INDEX.md §2):
    the RPLC association is sent, and the registry refuses the unknown target."""
    states = await run(tmp_path, keys, endpoint, [INIT.read_bytes(), RPLC.read_bytes()])
    assert states == [DeliveryState.SENT, DeliveryState.DEAD]
    _, second = endpoint.requests
    (new_entry,) = second.cda_entries
    assert (c.RPLC, new_entry, entry_uuid_for("1.2.250.1.213.1.1.12")) in second.associations
    assert second.answer == "Failure"


async def test_secret_connection_and_structure_author_reach_the_dmp(
    tmp_path: Path, keys: Keys, endpoint: DmpEndpoint
) -> None:
    """CONNEXION_SECRETE=Y gives the VIHF its confidentiality-code attribute; the
    SubmissionSet author is the structure of the VIHF (an authorInstitution of the CDA)."""
    secret = (
        b"OBX|5|CE|CONNEXION_SECRETE^Connexion Secrete^MetaDMPMSS||"
        b"Y^^expandedYes-NoIndicator||||||F"
    )
    plain, with_secret = oru(cda(doc_id="1.2.250.1.999.7.8")), oru(cda()) + b"\r" + secret
    states = await run(tmp_path, keys, endpoint, [plain, with_secret])
    assert states == [DeliveryState.SENT, DeliveryState.SENT]
    first, second = endpoint.accepted
    assert CONFIDENTIALITY_ATTRIBUTE not in first.vihf
    assert second.vihf[CONFIDENTIALITY_ATTRIBUTE] == "INVISIBLE_PATIENT"
    assert second.submission_set_author_institutions == [
        "Labo test^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1120459876"
    ]
