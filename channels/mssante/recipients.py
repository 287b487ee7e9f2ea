"""Who an MSSanté mail may go to: the trusted domains (the ANS allowlist, "liste blanche",
as a configured file) and the patient mailboxes of Mon espace santé.

* A recipient's domain must be in the allowlist file (exact match, case-insensitive) when
  ``trusted_domains_file`` is set; otherwise within ``trusted_domains`` (a domain or its
  subdomains).
* A patient mailbox is ``<INS>@patient.mssante.fr``: it is accepted only when the document
  carries a qualified INS (well-formed, valid NIR key, the identity traits; and PID-32
  ``VALI`` when it came in HL7) and the local part is that INS. ``to_patient`` builds it.

Reasons name the recipient's position and the rule, never an address or an INS.
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from pathlib import Path

from lxml import etree

from engine.errors import ChannelError, DocumentError, PermanentDeliveryError
from engine.formats.cda import CdaDocument
from engine.formats.cda.safe_xml import parse_xml

PATIENT_DOMAIN = "patient.mssante.fr"
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def read_allowlist(path: Path) -> frozenset[str]:
    """The domains of an allowlist file: text (one per line, ``#`` comments) or XML (the
    text of every element whose name contains ``domain``/``domaine``).

    Raises:
        ChannelError: unreadable, or a line that is not a domain name.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ChannelError(f"cannot read the MSSanté allowlist {path}: {exc.strerror}") from exc
    if raw.lstrip().startswith(b"<"):
        try:
            root = parse_xml(raw)
        except DocumentError as exc:
            raise ChannelError(f"the MSSanté allowlist {path} is not usable XML: {exc}") from exc
        names = [
            (node.text or "").strip()
            for node in root.iter()
            if isinstance(node.tag, str) and "domain" in etree.QName(node).localname.lower()
        ]
    else:
        lines = raw.decode("utf-8-sig", errors="replace").splitlines()
        names = [line.split("#", 1)[0].strip() for line in lines]
    domains = set()
    for n, name in enumerate((x for x in names if x), start=1):
        domain = name.lower().rstrip(".")
        if not _DOMAIN.match(domain):
            raise ChannelError(f"the MSSanté allowlist {path}: entry {n} is not a domain name")
        domains.add(domain)
    if not domains:
        raise ChannelError(f"the MSSanté allowlist {path} lists no domain")
    return frozenset(domains)


def trusted(domain: str, allowlist: frozenset[str] | None, suffixes: tuple[str, ...]) -> bool:
    """Whether ``domain`` may receive MSSanté mail (see the module doc)."""
    if allowlist is not None:
        return domain in allowlist
    bases = (d.lower().lstrip(".") for d in suffixes)
    return any(domain == d or domain.endswith("." + d) for d in bases)


def patient_ins(doc: CdaDocument, hl7_qualified: bool | None) -> str | None:
    """The qualified INS of the document's patient (uppercase), or None."""
    patient = doc.header.patient
    if patient is None or patient.ins is None or hl7_qualified is False:
        return None
    ins = patient.ins
    traits = (patient.name.birth_family, patient.name.first_given, patient.birth_time)
    if not (ins.well_formed and ins.key_ok and all(traits) and patient.gender):
        return None
    return ins.value.upper()


def check_recipients(
    addresses: list[str],
    *,
    allowlist: frozenset[str] | None,
    suffixes: tuple[str, ...],
    ins: str | None,
    to_patient: bool,
) -> tuple[str, ...]:
    """The recipients, checked and unique (the patient mailbox added with ``to_patient``).

    Raises:
        PermanentDeliveryError: a recipient is not an address, outside the trusted domains,
            or a patient mailbox that is not the document's patient; or no recipient.
    """
    if to_patient:
        if ins is None:
            raise PermanentDeliveryError(
                "to_patient: the document carries no qualified INS to address the patient's mailbox"
            )
        addresses = [*addresses, f"{ins}@{PATIENT_DOMAIN}"]
    unique: dict[str, str] = {}
    for n, value in enumerate(addresses, start=1):
        address = parseaddr(value)[1]
        local, _, domain = address.rpartition("@")
        if not local or not domain:
            raise PermanentDeliveryError(f"recipient {n} is not a mail address")
        domain = domain.lower().rstrip(".")
        if not trusted(domain, allowlist, suffixes):
            raise PermanentDeliveryError(
                f"recipient {n} is outside the trusted domains (domain {domain})"
            )
        if domain == PATIENT_DOMAIN and (ins is None or local.upper() != ins):
            reason = (
                "the document carries no qualified INS"
                if ins is None
                else ("its address is not the qualified INS of the document's patient")
            )
            raise PermanentDeliveryError(f"recipient {n} is a patient mailbox and {reason}")
        unique.setdefault(address.lower(), address)
    if not unique:
        raise PermanentDeliveryError(
            "no recipient: set 'to', 'recipients_metadata' or 'to_patient'"
        )
    return tuple(unique.values())


__all__ = ["PATIENT_DOMAIN", "check_recipients", "patient_ins", "read_allowlist", "trusted"]
