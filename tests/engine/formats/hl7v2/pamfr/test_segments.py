"""Typed views of the French segments on the project's samples."""

from __future__ import annotations

import dataclasses

import pytest

from engine.formats.hl7v2 import parse
from engine.formats.hl7v2.pamfr.segments import ZBE, ZFA, ZFD, ZFM, ZFP, ZFS, ZFV, Field, Unit
from tests.engine.formats.hl7v2.pamfr.support import admission, sample, with_segment


def test_zbe_view_reads_the_movement() -> None:
    zbe = ZBE.of(admission())
    assert zbe is not None
    assert zbe.movement_ids == ("MVT-000501",)
    assert (zbe.start, zbe.end, zbe.action, zbe.historic_indicator) == (
        "20261120093000",
        "",
        "INSERT",
        "N",
    )
    assert not zbe.historic and zbe.original_event == "" and zbe.nature == "HMS"
    assert zbe.medical_unit == Unit("Cardiologie", "UF", "4401") == zbe.care_unit


def test_zbe_cancel_and_historic() -> None:
    zbe = ZBE.of(parse(sample("adt_a11_cancel_admission.hl7")))
    assert zbe is not None and (zbe.action, zbe.original_event) == ("CANCEL", "A01")
    raw = with_segment(sample("adt_a02_transfer.hl7"), "ZBE", "ZBE|1^A~2^A|20260101||INSERT|Y||||M")
    zbe = ZBE.of(parse(raw))
    assert zbe is not None and zbe.historic and zbe.movement_ids == ("1", "2")
    assert zbe.medical_unit is None


def test_zfa_zfp_zfv_zfm_zfd_views() -> None:
    msg = admission()
    zfa, zfp, zfv, zfm, zfd = (v.of(msg) for v in (ZFA, ZFP, ZFV, ZFM, ZFD))
    assert zfa is not None and (zfa.dmp_status, zfa.feeding, zfa.consultation) == (
        "ACTIF",
        "INO",
        "IC",
    )
    assert not zfa.opposed_to_feeding and zfa.consultation_date == "20261120093000"
    assert zfp is not None and (zfp.activity, zfp.category) == ("5", "54")
    assert zfv is not None and (zfv.origin_facility, zfv.origin_date) == ("440000123", "20261120")
    assert zfm is not None and (zfm.entry_mode, zfm.emergency) == ("8", "5")
    assert zfd is not None and (zfd.sms_consent, zfd.acquisition_mode) == ("N", "INSI")
    assert zfd.insi_query_date == "20261115" and zfd.lunar_date == ("", "", "")


def test_zfs_repeats_and_absent_segments_give_none() -> None:
    raw = sample("adt_a28_create_patient.hl7").rstrip(b"\r") + (
        b"\rZFS|1|12456789^AUTORITE|20140101121400||INSERT|SDREP|3"
        b"\rZFS|2|12456790^AUTORITE|20140201121400||INSERT|SPI"
    )
    msg = parse(raw)
    first, second = ZFS.all(msg)
    assert (first.set_id, first.legal_mode_id, first.action, first.legal_mode) == (
        "1",
        "12456789",
        "INSERT",
        "SDREP",
    )
    assert first.rimp_code == "3" and second.legal_mode == "SPI" and second.end == ""
    assert ZBE.of(msg) is None and ZFV.all(msg) == ()


def test_views_are_frozen_and_fields_are_documented() -> None:
    zfa = ZFA.of(admission())
    assert zfa is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        zfa.segment = zfa.segment  # type: ignore[misc]
    assert isinstance(ZFA.feeding, Field) and "ZFA-9" in (ZFA.feeding.__doc__ or "")
