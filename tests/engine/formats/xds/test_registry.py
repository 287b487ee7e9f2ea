"""ITI-18 / ITI-57 bodies: schema-valid requests and responses, entries read back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree

from engine.formats.cda import read_cda, validate
from engine.formats.xds import (
    PreparedDocument,
    SubmissionSettings,
    build_submission,
    load_tables,
    provide_and_register,
)
from engine.formats.xds import constants as c
from engine.formats.xds import registry as r
from engine.formats.xds.model import CodedValue
from engine.formats.xds.response import RegistryError
from tests.engine.formats.cda.builders import XDS_XSD, cda

needs_xsd = pytest.mark.skipif(not XDS_XSD.is_file(), reason="XDS schemas not available")


def _valid(element: etree._Element) -> None:
    assert validate(etree.fromstring(etree.tostring(element)), XDS_XSD) == []


def _registered() -> tuple[r.RegistryEntry, object]:
    settings = SubmissionSettings("1.2.250.1.999.1", "07")
    now = datetime(2024, 1, 5, tzinfo=UTC)
    s = build_submission(
        [PreparedDocument(read_cda(cda()))], settings, load_tables(), key="K", now=now
    )
    request, _ = provide_and_register(s, xop=False)
    node = next(request.iter(f"{{{c.RIM}}}ExtrinsicObject"))
    node.set("status", c.APPROVED)
    return r.read_entry(node), s.submission_set


@needs_xsd
def test_requests_and_responses_are_schema_valid() -> None:
    entry, submission_set = _registered()
    assert entry.unique_id == "1.2.250.1.999.7.1" and entry.logical_id == entry.entry_uuid
    query = r.get_documents(["1.2.250.1.999.7.1", "it's"])
    _valid(query)
    assert query.findtext(f".//{{{c.RIM}}}Value") == "('1.2.250.1.999.7.1','it''s')"
    answer = r.query_response([entry.element])
    _valid(answer)
    result, entries = r.parse_query_response(answer)
    assert result.status == "Success" and [e.unique_id for e in entries] == [entry.unique_id]
    failure = r.query_response([], [RegistryError("XDSUnknownStoredQuery", "x")])
    _valid(failure)
    result, entries = r.parse_query_response(failure)
    assert result.status == "Failure" and result.error_codes == {"XDSUnknownStoredQuery"}
    deletion = r.update_status(submission_set, entry, r.DELETED)  # type: ignore[arg-type]
    _valid(deletion)
    masked = r.update_confidentiality(
        submission_set,  # type: ignore[arg-type]
        entry,
        [
            CodedValue("N", "2.16.840.1.113883.5.25", ""),
            CodedValue("MASQUE_PS", "1.2.250.1.213.1.1.4.13", ""),
        ],
    )
    _valid(masked)
    (version,) = masked.iter(f"{{{c.RIM}}}ExtrinsicObject")
    assert version.get("lid") == entry.entry_uuid and version.get("id") != entry.entry_uuid
    owners = {n.get("classifiedObject") or n.get("registryObject") for n in version}
    assert owners - {None} == {version.get("id")}
