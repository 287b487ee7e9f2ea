"""Gating before the DMP: only documents of patients with a qualified INS, and no opposition.

Rules (ANS application error codes of the CI-SIS volets, ERR-5, in brackets):

* [903] the CDA ``recordTarget`` carries no INS; or its root is not in
  ``accepted_ins_oids`` (NIR, NIA and the test roots by default, as the volet accepts NIR
  or NIA); or its NIR key is wrong; or the carrying HL7 message does not qualify the
  identity (PID-32 without ``VALI``, or envelope fact ``ins.qualified=false``: PAM-FR
  says an unqualified INS must be ignored, so it counts as absent).
* [904] the INS of the CDA differs from the INS of the carrying message's PID-3
  (fact ``ins.match=false``).
* [905] the INS traits are incomplete in the CDA header (birth name, first given name,
  given names, birth date, sex, birthplace INSEE code).
* [906] the patient opposed DMP feeding (ZFA-9 ``IO``, fact ``dmp.opposition=true``), or
  the DMP is closed or does not exist (ZFA-1 ``FERME``/``INEXISTANT``, fact ``dmp.status``).

Reasons are patient-free (never the INS, never a name): they end up in logs and in the
dead letter shown by ``passerelle messages show``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from engine.errors import PermanentDeliveryError
from engine.formats.cda.hl7_carried import Hl7Identity
from engine.formats.cda.ins import INS_NIA, INS_NIR, INS_NIR_DEMO, INS_NIR_TEST, Ins
from engine.formats.cda.model import CdaHeader
from engine.formats.cda.rules import INS_TRAIT_RULE, check_header
from engine.formats.hl7v2.ack import ANS_APPLICATION_ERRORS

FACT_QUALIFIED = "ins.qualified"
FACT_OPPOSITION = "dmp.opposition"
FACT_INS_MATCH = "ins.match"
FACT_DMP_STATUS = "dmp.status"
FACT_SECRET = "dmp.secret_connection"
"""``true`` when the producer asked for a secret connection (HL7 ``CONNEXION_SECRETE=Y``)."""
CLOSED_STATUSES = frozenset({"FERME", "INEXISTANT"})


@dataclass(frozen=True, slots=True)
class DmpRefusal:
    """Why a document may not go to the DMP: ANS code (``903``…``906``) and a reason."""

    code: str
    reason: str

    @property
    def label(self) -> str:
        return ANS_APPLICATION_ERRORS.get(self.code, "")

    def __str__(self) -> str:
        return f"ANS {self.code} ({self.label}): {self.reason}"


@dataclass(frozen=True, slots=True)
class GatePolicy:
    """Which INS are accepted for the DMP (default: INS-NIR, INS-NIA, the test/demo roots)."""

    accepted_ins_oids: frozenset[str] = field(
        default=frozenset({INS_NIR, INS_NIA, INS_NIR_TEST, INS_NIR_DEMO})
    )
    require_traits: bool = True


def check_cda(header: CdaHeader, policy: GatePolicy | None = None) -> list[DmpRefusal]:
    """The refusals due to the CDA header alone (903, 905)."""
    policy = policy or GatePolicy()
    ins = header.patient.ins if header.patient else None
    if ins is None:
        return [DmpRefusal("903", "the CDA recordTarget carries no INS")]
    refusals: list[DmpRefusal] = []
    if ins.oid not in policy.accepted_ins_oids:
        refusals.append(DmpRefusal("903", f"an {ins.kind} is not accepted for the DMP"))
    if not ins.well_formed or not ins.key_ok:
        refusals.append(DmpRefusal("903", f"the {ins.kind} is malformed or its NIR key is wrong"))
    if policy.require_traits:
        missing = [f.message for f in check_header(header) if f.rule == INS_TRAIT_RULE]
        if missing:
            refusals.append(DmpRefusal("905", "; ".join(missing)))
    return refusals


def check_facts(metadata: Mapping[str, str]) -> list[DmpRefusal]:
    """The refusals due to facts recorded at intake (PID-32, ZFA-9, PID/CDA INS match)."""
    refusals: list[DmpRefusal] = []
    if metadata.get(FACT_QUALIFIED, "").lower() == "false":
        refusals.append(
            DmpRefusal("903", "the identity is not qualified (PID-32 is not VALI): no usable INS")
        )
    if metadata.get(FACT_INS_MATCH, "").lower() == "false":
        refusals.append(DmpRefusal("904", "the INS of the CDA differs from the INS of PID-3"))
    if metadata.get(FACT_OPPOSITION, "").lower() == "true":
        refusals.append(DmpRefusal("906", "the patient opposed DMP feeding (ZFA-9 = IO)"))
    status = metadata.get(FACT_DMP_STATUS, "").upper()
    if status in CLOSED_STATUSES:
        refusals.append(DmpRefusal("906", f"the patient's DMP is {status} (ZFA-1)"))
    return refusals


def hl7_facts(identity: Hl7Identity, cda_ins: Iterable[Ins | None] = ()) -> dict[str, str]:
    """Envelope/payload facts from an HL7 message (for :func:`check_facts`), patient-free.

    ``ins.match`` is ``false`` when any of ``cda_ins`` differs from the PID-3 INS.
    """
    facts = {
        FACT_QUALIFIED: "true" if identity.qualified and identity.ins else "false",
        FACT_OPPOSITION: "true" if identity.opposition else "false",
    }
    pid = identity.ins
    if pid is not None:
        same = all(
            i is None or (i.value.upper(), i.oid) == (pid.value.upper(), pid.oid) for i in cda_ins
        )
        facts[FACT_INS_MATCH] = "true" if same else "false"
    return facts


def refuse(refusals: list[DmpRefusal]) -> None:
    """Raise PermanentDeliveryError naming every refusal; return when there is none."""
    if refusals:
        detail = "; ".join(str(r) for r in refusals)
        raise PermanentDeliveryError(f"not sent to the DMP: {detail}")


__all__ = [
    "CLOSED_STATUSES",
    "FACT_DMP_STATUS",
    "FACT_INS_MATCH",
    "FACT_OPPOSITION",
    "FACT_QUALIFIED",
    "FACT_SECRET",
    "DmpRefusal",
    "GatePolicy",
    "check_cda",
    "check_facts",
    "hl7_facts",
    "refuse",
]
