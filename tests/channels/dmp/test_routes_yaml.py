"""The DMP fed purely by configuration: an engine built from routes.yaml text whose routes
name the built-in transforms (``transform: dmp_from_hl7`` for ORU over MLLP,
``transform: dmp_from_cda`` for CDA files). An ANS ORU carrying a CR-BIO, sent over MLLP,
ends as an ITI-41 accepted by the test endpoint; a dropped CDA does too; an ORU whose
identity is not qualified never reaches the DMP."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.mllp.server import MllpSource
from engine.assembly import build_engine
from engine.config.loader import check_text, load_config_text
from engine.formats.xds import constants as c
from engine.message import DeliveryState, MessageState
from engine.sandbox.dmp_endpoint import DmpEndpoint
from tests.channels.dmp.conftest import Keys
from tests.channels.dmp.test_engine_flow import config_text, settled
from tests.channels.dmp.test_oru_to_dmp import INIT
from tests.engine.formats.cda.builders import cda, oru
from tests.support.corpus import ABSENT
from tests.support.mllp import MllpPeer, msa

MLLP_CHANNEL = """\
  mllp_in:
    type: mllp
    listen: "127.0.0.1:0"
"""
ROUTES = """\
routes:
  - name: oru_to_dmp
    from: [mllp_in]
    when: {message_type: ORU}
    to: [dmp]
    transform: dmp_from_hl7
  - name: cda_to_dmp
    from: [cda_in]
    when: {content_type: application/cda+xml}
    to: [dmp]
    transform: dmp_from_cda
"""


def routes_yaml(home: Path, keys: Keys, url: str) -> str:
    """The configuration of ``test_engine_flow`` with an MLLP channel and named transforms."""
    base = config_text(home, keys, url)
    head, _, _ = base.partition("routes:\n")
    head = head.replace("destinations:\n", MLLP_CHANNEL + "destinations:\n", 1)
    return head + ROUTES


def test_the_routes_name_the_built_in_transforms(tmp_path: Path, keys: Keys) -> None:
    config = load_config_text(routes_yaml(tmp_path, keys, "https://127.0.0.1:1/"), env={})
    assert [(r.name, r.transform, r.map) for r in config.routes] == [
        ("oru_to_dmp", "dmp_from_hl7", None),
        ("cda_to_dmp", "dmp_from_cda", None),
    ]


def test_check_requires_the_dmp_homologation_number(tmp_path: Path, keys: Keys) -> None:
    text = routes_yaml(tmp_path, keys, "https://127.0.0.1:1/")
    assert [d for d in check_text(text, env={}) if d.is_error] == []
    without = text.replace("      lps_homologation: DMP-LPS-TEST\n", "")
    assert without != text
    errors = [d for d in check_text(without, env={}) if d.is_error]
    assert errors and "lps_homologation" in str(errors[0])
    empty = text.replace("lps_homologation: DMP-LPS-TEST", 'lps_homologation: ""')
    assert any("lps_homologation" in str(d) for d in check_text(empty, env={}) if d.is_error)


@pytest.mark.skipif(not INIT.is_file(), reason=ABSENT)
async def test_ans_oru_over_mllp_ends_as_an_iti41_by_configuration(
    tmp_path: Path, keys: Keys, endpoint: DmpEndpoint
) -> None:
    # Given an engine built from routes.yaml text only
    engine = build_engine(load_config_text(routes_yaml(tmp_path, keys, endpoint.url), env={}))
    assert set(engine.pipeline.transforms) == {"oru_to_dmp", "cda_to_dmp"}
    await engine.start()
    try:
        # When the ANS CR-BIO ORU and an ORU with a provisional identity arrive over MLLP,
        # and a CDA document is dropped in the directory
        (source,) = [s for s in engine.sources if isinstance(s, MllpSource)]
        async with MllpPeer(*source.address) as peer:
            for raw in (INIT.read_bytes(), oru(cda(doc_id="1.2.250.1.999.7.8"), pid32="PROV")):
                assert msa(await peer.exchange(raw))[1] == "AA"
        (tmp_path / "in" / "doc.xml").write_bytes(cda(doc_id="1.2.250.1.999.7.9"))
        states = await settled(engine, 3)
    finally:
        await engine.stop()
    # Then the CR-BIO and the CDA are accepted by the DMP; the unqualified ORU is dead
    assert sorted(states) == sorted(
        [
            (MessageState.ROUTED, [DeliveryState.SENT]),
            (MessageState.ROUTED, [DeliveryState.SENT]),
            (MessageState.ROUTED, [DeliveryState.DEAD]),
        ]
    )
    assert len(endpoint.requests) == 2
    by_id = {e["uniqueId"]: (r, e) for r in endpoint.accepted for e in r.cda_entries.values()}
    assert set(by_id) == {"1.2.250.1.213.1.1.9", "1.2.250.1.999.7.9"}
    crbio, entry = by_id["1.2.250.1.213.1.1.9"]
    assert entry[c.DE_TYPE] == "11502-2" and len(crbio.cda_entries) == 1
    assert crbio.submission_set[c.SS_PATIENT_ID].startswith("279035121518989^^^&")
