"""Fictional HL7v2 messages and corpus helpers shared by the HL7v2 tests."""

from __future__ import annotations

from pathlib import Path

from tests.support.corpus import corpus_root

CORPUS = corpus_root() / "hl7v2"

# PAM-FR ADT^A01 (fictional patient), CR terminators, escapes, repetitions, sub-components.
ADT_A01_SEGMENTS = [
    "MSH|^~\\&|GAM|CHU-X|DPI|CHU-X|20240306111154||ADT^A01^ADT_A01|3975|P|2.5^FRA^2.11"
    "|||||FRA|UNICODE UTF-8|FR||2.11^IHE_FRANCE-2.11-PAM",
    "EVN||20240306111154||||20240306110000",
    "PID|1||000003^^^CHU-X&000897406&N^PI~279035121518989^^^ASIP-SANTE-INS-NIR"
    "&1.2.250.1.213.1.4.10&ISO^INS^^20101207||DUPONT^JEANNE^JEANNE MARIE^^Mme^^L~"
    "MARTIN^JEANNE^^^Mme^^D||19790328|F|||28 Av de Breteuil^^PARIS^^75007^FRA^H~"
    "^^^^^^BDL^^63220|||||S||24000006^^^CHU-X&000897406&M^AN|||||||1|||||N||VALI",
    "PV1|1|I|^^^CHU-X&000897406&M^O||||801234567897^Réault^Pierre^^^^^^ASIP-SANTE-PS"
    "&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
    "NTE|1||Tél. 01 23 45 67 89 \\T\\ fax\\F\\domicile\\S\\bureau\\R\\autre\\E\\fin",
    "ZBE|312^CHU-X^000897406|20240306110000||INSERT|N||Chir V^^^^^CHU-X&000897406&N^UF^^^6268||HMS",
    "ZFA|ACTIF|20240306111154|||||||INO|20240306111154|IC|20240306111154",
]
ADT_A01 = ("\r".join(ADT_A01_SEGMENTS) + "\r").encode("utf-8")


def ack_message(msh15: str = "", msh16: str = "", charset: str = "UNICODE UTF-8") -> bytes:
    """An ORU^R01 header with the given MSH-15/16/18, for acknowledgement tests."""
    msh = (
        f"MSH|^~\\&|PFI-X|Organisation-X|SIL-Y|labo|202106060931||ORU^R01^ORU_R01|015|P|2.5"
        f"|||{msh15}|{msh16}|FRA|{charset}"
    )
    return (msh + "\rPID|1||42^^^X^PI\r").encode("latin-1")


def corpus_hl7_files() -> list[Path]:
    """Every file under the corpus hl7v2 tree whose content is ER7 (by content, not name)."""
    out = []
    for p in sorted(CORPUS.rglob("*")):
        if p.is_file():
            head = p.read_bytes()[:8]
            if head.removeprefix(b"\xef\xbb\xbf").startswith(b"MSH"):
                out.append(p)
    return out
