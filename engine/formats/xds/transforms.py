"""Route transforms that prepare DMP submissions, named in ``routes.yaml`` with
``transform: dmp_from_hl7`` / ``transform: dmp_from_cda`` (registered at import).

* :func:`dmp_submission_from_hl7` turns an ORU^R01 / MDM^T02/T04/T10 carrying CDA documents
  into a ``DMP_DOCUMENTS`` payload: the documents with their action (OBX-11, MDM event),
  the parent to replace (CDA RPLC, else TXA-13), the masking flags (``MetaDMPMSS``; with
  ``MODIF_CONF_CODE=Y`` they update the registered entry instead of a new feeding), the
  contentTypeCode from PV1-2, and the gating facts (PID-32 ``VALI``, ZFA-9 ``IO``, PID-3
  INS equal to the CDA INS, ``CONNEXION_SECRETE`` for the VIHF).
* :func:`dmp_submission_from_cda` passes a CDA envelope through unchanged.

Transforms raise :class:`~engine.errors.MappingError` (the delivery goes to the dead
letter with the reason); the gating itself is done by the ``dmp_xds`` destination.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.components import Payload
from engine.errors import DocumentError, MappingError, ParseError
from engine.formats.cda import CDA_CONTENT_TYPE, read_cda
from engine.formats.cda.hl7_carried import (
    Action,
    extract_documents,
    identity,
    meta_flags,
)
from engine.formats.hl7v2 import parse_stored
from engine.formats.xds.gating import FACT_OPPOSITION, FACT_SECRET, hl7_facts
from engine.formats.xds.payload import DMP_DOCUMENTS, DmpRequest, RequestedDocument, encode
from engine.message import Envelope
from engine.transforms import transform as register

Transform = Callable[[Envelope], Payload]
"""Same shape as ``engine.pipeline.Transform`` (not imported, to keep formats light)."""

CONTENT_TYPE_BY_PATIENT_CLASS = {"I": "03", "O": "07", "E": "07", "R": "19", "N": "97"}
"""PV1-2 → SubmissionSet contentTypeCode, as proposed by the ANS volet mapping."""
MASKING_FLAGS = {
    "MASQUE_PS": "MASQUE_PS",
    "INVISIBLE_PATIENT": "INVISIBLE_PATIENT",
    "INVISIBLE_REP_LEGAUX": "INVISIBLE_REPRESENTANTS_LEGAUX",
    "INVISIBLE_REPRESENTANTS_LEGAUX": "INVISIBLE_REPRESENTANTS_LEGAUX",
}
"""``MetaDMPMSS`` flag → confidentialityCode added when the flag is ``Y``."""


@register("dmp_from_hl7", summary="ORU^R01 / MDM^T02/T04/T10 carrying CDA documents → DMP")
def dmp_submission_from_hl7(*, default_codec: str = "utf-8") -> Transform:
    """A transform for routes that send HL7-carried CDA documents to a ``dmp_xds`` destination.

    ``default_codec`` decodes messages without MSH-18.
    """

    def transform(envelope: Envelope) -> Payload:
        try:
            msg = parse_stored(envelope.raw, envelope.metadata, default_codec)
            carried = extract_documents(msg)
        except (ParseError, DocumentError) as exc:
            raise MappingError(f"HL7 → DMP: {exc}") from exc
        if not carried:
            raise MappingError("HL7 → DMP: the message carries no CDA document (OBX ED XML)")
        cda_ins = []
        for doc in carried:
            try:
                header = read_cda(doc.content).header
            except DocumentError as exc:
                raise MappingError(f"HL7 → DMP: OBX[{doc.obx}] is not a usable CDA: {exc}") from exc
            cda_ins.append(header.patient.ins if header.patient else None)
        flags = meta_flags(msg)
        extra = tuple(sorted({code for f, code in MASKING_FLAGS.items() if flags.get(f)}))
        update = "confidentiality" if flags.get("MODIF_CONF_CODE") else None
        documents = tuple(
            RequestedDocument(
                doc.content,
                doc.action,
                doc.parent_unique_id if doc.action is Action.REPLACE else None,
                extra,
                update if doc.action is not Action.DELETE else None,
            )
            for doc in carried
        )
        facts = dict(envelope.metadata)
        computed = hl7_facts(identity(msg), cda_ins)
        if facts.get(FACT_OPPOSITION) == "true":
            computed[FACT_OPPOSITION] = "true"
        facts.update(computed)
        if flags.get("CONNEXION_SECRETE"):
            facts[FACT_SECRET] = "true"
        request = DmpRequest(
            documents,
            facts,
            destined=flags.get("DESTDMP", True),
            content_type=CONTENT_TYPE_BY_PATIENT_CLASS.get(msg.get("PV1-2")),
        )
        return Payload(encode(request), DMP_DOCUMENTS, dict(envelope.metadata))

    return transform


@register("dmp_from_cda", summary="a CDA document (directory, http) → DMP, unchanged")
def dmp_submission_from_cda() -> Transform:
    """A transform for CDA envelopes (file, HTTP intake): the bytes, unchanged."""

    def transform(envelope: Envelope) -> Payload:
        return Payload(envelope.raw, CDA_CONTENT_TYPE, dict(envelope.metadata))

    return transform


__all__ = [
    "CONTENT_TYPE_BY_PATIENT_CLASS",
    "MASKING_FLAGS",
    "dmp_submission_from_cda",
    "dmp_submission_from_hl7",
]
