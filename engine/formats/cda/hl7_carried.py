"""CDA documents carried in HL7v2 ORU^R01 and MDM^T02/T04/T10 (ANS volet "Transmission de
documents CDA-R2 en HL7v2").

A document is an OBX of type ED whose OBX-5 is ``^TEXT^XML^Base64^<data>`` (Base64, padding
often missing in the wild: it is restored) or inline XML (OBX-5.4 empty or ``A``); other ED
OBX (mail bodies ``CORPSMAIL_*``, ``XDM/1.0/DDM``: subtype not ``XML``) and the routing
flags (OBX-3.3 ``MetaDMPMSS``) are not documents. The action comes from
OBX-11 (``F`` initial, ``C`` replace, ``D`` delete), else from the MDM event (T02/T10/T04).
TXA-12/TXA-13 give the unique id of the document and of its parent (MDM).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import StrEnum

from engine.errors import DocumentError
from engine.formats.cda.ins import Ins
from engine.formats.hl7v2 import Message

META = "MetaDMPMSS"


class Action(StrEnum):
    """What the sender asks for the document."""

    INITIAL = "initial"
    REPLACE = "replace"
    DELETE = "delete"


_OBX11 = {"F": Action.INITIAL, "C": Action.REPLACE, "D": Action.DELETE}
_MDM_EVENTS = {"T02": Action.INITIAL, "T10": Action.REPLACE, "T04": Action.DELETE}


@dataclass(frozen=True, slots=True)
class CarriedDocument:
    """One document found in the message.

    Attributes:
        obx: 1-based occurrence of the OBX that carries it.
        content: the decoded bytes (not checked to be a CDA: see ``read_cda``).
        action: initial, replace or delete.
        type_code: OBX-3.1 (the LOINC/TRE_A05 document type).
        unique_id: TXA-12.1 (MDM), else "".
        parent_unique_id: TXA-13.1 (MDM replace/delete), else "".
    """

    obx: int
    content: bytes
    action: Action
    type_code: str
    unique_id: str = ""
    parent_unique_id: str = ""


@dataclass(frozen=True, slots=True)
class Hl7Identity:
    """Facts about the patient for DMP gating (never log ``ins``).

    Attributes:
        ins: the INS of PID-3 (first repetition under an INS OID), if any.
        qualified: PID-32 contains ``VALI`` (identity qualified: INS may be used).
        opposition: ZFA-9 is ``IO`` (patient informed and opposed to DMP feeding).
    """

    ins: Ins | None
    qualified: bool
    opposition: bool


def _decode(data: str, encoding: str, obx: int) -> bytes:
    if encoding.lower() == "base64":
        compact = "".join(data.split())
        try:
            return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DocumentError(f"OBX[{obx}]-5.5 is not valid Base64", kind="malformed") from exc
    if encoding in ("", "A"):
        return data.encode("utf-8")
    raise DocumentError(f"OBX[{obx}]-5.4 encoding {encoding!r} is not supported", kind="invalid")


def _message_action(msg: Message) -> Action:
    if msg.get("MSH-9.1") == "MDM":
        return _MDM_EVENTS.get(msg.get("MSH-9.2"), Action.INITIAL)
    return Action.INITIAL


def extract_documents(msg: Message) -> list[CarriedDocument]:
    """Every document carried by ``msg``, in OBX order (flags and non-ED OBX skipped).

    Raises:
        DocumentError: an ED OBX whose payload cannot be decoded.
    """
    default = _message_action(msg)
    found: list[CarriedDocument] = []
    for index, obx in enumerate(msg.segments("OBX"), start=1):
        if obx.get(2) != "ED" or obx.get(5, comp=3).upper() != "XML":
            continue
        action = _OBX11.get(obx.get(11), default)
        found.append(
            CarriedDocument(
                obx=index,
                content=_decode(obx.get(5, comp=5), obx.get(5, comp=4), index),
                action=action,
                type_code=obx.get(3),
                unique_id=msg.get("TXA-12.1"),
                parent_unique_id=msg.get("TXA-13.1"),
            )
        )
    return found


def meta_flags(msg: Message) -> dict[str, bool]:
    """The ``MetaDMPMSS`` yes/no flags (``DESTDMP``, ``MASQUE_PS``…): code → value is ``Y``."""
    return {
        obx.get(3): obx.get(5) == "Y"
        for obx in msg.segments("OBX")
        if obx.get(3, comp=3) == META and obx.get(2) != "ED"
    }


def identity(msg: Message) -> Hl7Identity:
    """The INS of PID-3, whether PID-32 says ``VALI``, and whether ZFA-9 says ``IO``."""
    ins: Ins | None = None
    pid = msg.segment("PID")
    if pid is not None:
        for rep in range(1, len(pid.repetitions(3)) + 1):
            candidate = Ins.of(pid.get(3, rep, 1), pid.get(3, rep, 4, 2))
            if candidate is not None and pid.get(3, rep, 1):
                ins = candidate
                break
    statuses = pid.repetitions(32) if pid is not None else []
    return Hl7Identity(
        ins=ins,
        qualified="VALI" in (s.strip() for s in statuses),
        opposition=msg.get("ZFA-9") == "IO",
    )


__all__ = ["META", "Action", "CarriedDocument", "Hl7Identity", "extract_documents", "identity"]
