"""The ``mssante_from_hl7`` route transform: an ORU^R01 / MDM^T02/T10 of the ANS volet
carrying a CDA becomes the CDA payload of an ``mssante`` destination, with the identity
status of the carrying message (PID-32, fact ``ins.qualified``) so that ``X-MSS-INS`` and
the patient-mailbox rule follow it: an INS without ``VALI`` is not a qualified INS, whatever
the CDA says (PAM-FR). With ``DESTMSSANTEPAT=Y`` the fact ``mssante.to_patient`` is set.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.components import Payload
from engine.errors import DocumentError, MappingError, ParseError
from engine.formats.cda import CDA_CONTENT_TYPE
from engine.formats.cda.hl7_carried import Action, extract_documents, identity, meta_flags
from engine.formats.hl7v2 import parse
from engine.formats.xds.gating import FACT_QUALIFIED
from engine.message import Envelope
from engine.transforms import transform as register

FACT_TO_PATIENT = "mssante.to_patient"


@register("mssante_from_hl7", summary="ORU^R01 / MDM carrying a CDA → MSSanté mail (PID-32)")
def mssante_from_hl7(*, default_codec: str = "utf-8") -> Callable[[Envelope], Payload]:
    """A transform for routes sending HL7-carried CDA documents to an ``mssante``
    destination (the first document the message carries that is not a deletion)."""

    def apply(envelope: Envelope) -> Payload:
        try:
            msg = parse(envelope.raw, default_codec=default_codec)
            carried = [d for d in extract_documents(msg) if d.action is not Action.DELETE]
        except (ParseError, DocumentError) as exc:
            raise MappingError(f"HL7 → MSSanté: {exc}") from exc
        if not carried:
            raise MappingError("HL7 → MSSanté: the message carries no CDA document to send")
        who = identity(msg)
        metadata = dict(envelope.metadata)
        metadata[FACT_QUALIFIED] = "true" if who.qualified and who.ins else "false"
        if meta_flags(msg).get("DESTMSSANTEPAT"):
            metadata[FACT_TO_PATIENT] = "true"
        return Payload(carried[0].content, CDA_CONTENT_TYPE, metadata)

    return apply


__all__ = ["FACT_TO_PATIENT", "mssante_from_hl7"]
