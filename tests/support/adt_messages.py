"""PAM-FR ADT messages for sequence tests, built from a few parameters (fictional patients).

Each message is a complete PAM-FR 2.11 message (MSH, EVN, PID, PV1, ZBE as the event
needs) for the same establishment: ``adt("A02", 3, movement="M3", at="202611211430",
bed="USIC^12^1", uf="4405")``.
"""

from __future__ import annotations

from dataclasses import dataclass

AUTH = "CHU-EXEMPLE&1.2.250.1.71.4.2.2.123456789&ISO"
INS_AUTH = "ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO"
IPP_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2.123456789"


@dataclass(frozen=True)
class Person:
    ipp: str
    ins: str
    names: str  # PID-5
    birth: str
    sex: str
    birth_place: str = "^^^^^FRA^BDL^^44109"


ELODIE = Person(
    "100234",
    "285074410912393",
    "MOREAU^Élodie^^^Mme^^D~LEGRAND^Élodie^Élodie Marie^^Mme^^L",
    "19850712",
    "F",
)
FRANCOIS = Person(
    "100587",
    "162037505604203",
    "DURAND^François^François Jérôme^^M.^^L",
    "19620315",
    "M",
    "^^^^^FRA^BDL^^75056",
)
UF_NAMES = {"4401": "Cardiologie", "4405": "Soins intensifs cardio", "4410": "Rééducation"}


def pid(person: Person, *, pid32: str = "VALI", ins: bool | None = True) -> str:
    """PID; ``ins=None`` sends the INS repetition with the HL7 delete ``""``."""
    ids = f"{person.ipp}^^^{AUTH}^PI"
    if ins:
        ids += f"~{person.ins}^^^{INS_AUTH}^INS"
    elif ins is None:
        ids += f'~""^^^{INS_AUTH}^INS'
    return (
        f"PID|1||{ids}||{person.names}||{person.birth}|{person.sex}|||"
        f"12 rue des Lilas^^Nantes^^44000^FRA^H~{person.birth_place}||"
        f"^PRN^CP^^^^^^^^^0612345678|||||{person.ipp}-NDA^^^{AUTH}^AN||||||||||||N||{pid32}"
    )


def adt(
    event: str,
    n: int,
    *,
    at: str,
    person: Person = ELODIE,
    movement: str = "",
    action: str = "INSERT",
    original: str = "",
    visit: str = "V1",
    bed: str = "CARD^204^1",
    uf: str = "4401",
    admitted: str = "202611200930",
    discharged: str = "",
    pid32: str = "VALI",
    ins: bool | None = True,
    pv1: bool = True,
    mrg: str = "",
) -> bytes:
    """One message; ``n`` makes MSH-10 unique, ``at`` is EVN-6 and ZBE-2 (YYYYMMDDHHMM)."""
    structure = {"A28": "ADT_A05", "A31": "ADT_A05", "A40": "ADT_A39", "A47": "ADT_A30"}
    trigger = "Z99" if action == "UPDATE" else event
    segments = [
        f"MSH|^~\\&|GAM|CHU-EXEMPLE^123456789^FINEG|PASSERELLE|GRADES|{at}05||"
        f"ADT^{trigger}^{structure.get(event, 'ADT_A01')}|ADT{at}{n:04d}|P|2.5^FRA^2.11|||||"
        "FRA|UNICODE UTF-8|FR||2.11^IHE_FRANCE-2.11-PAM",
        f"EVN||{at}05||||{at}00",
        pid(person, pid32=pid32, ins=ins),
    ]
    if pv1:
        fields = [""] * 46
        fields[1:4] = ["1", "I", f"{bed}^CHU-EXEMPLE^^^^^^^N"]
        fields[19] = f"{person.ipp}-{visit}^^^{AUTH}^VN"
        fields[44] = f"{admitted}00" if admitted else ""
        fields[45] = f"{discharged}00" if discharged else ""
        segments.append("PV1|" + "|".join(fields[1:]).rstrip("|"))
    if movement:
        where = f"{UF_NAMES.get(uf, 'UF')}^^^^^{AUTH}^UF^^^{uf}"
        segments.append(
            f"ZBE|{movement}^CHU-EXEMPLE^123456789^ISO|{at}00||{action}|N|{original}|"
            f"{where}|{where}|HMS"
        )
    if mrg:
        segments.append(f"MRG|{mrg}")
    return ("\r".join(segments) + "\r").encode()


__all__ = ["ELODIE", "FRANCOIS", "IPP_SYSTEM", "Person", "adt"]
