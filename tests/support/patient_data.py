"""Patient-data leak detection for tests: sample identity values and a grep over outputs.

Build test messages full of :data:`SAMPLE` values (names, INS/NIR, birth date, phone
numbers, address), run them through a refusal or failure path, then check everything an
operator or a sender can see -- log lines, stored reasons, ``passerelle messages`` output,
ACK texts, HTTP problem documents -- with :func:`assert_no_patient_data`::

    assert_no_patient_data(log=caplog.text, ack=ack, cli=result.output)

The search is case-insensitive, on text and on bytes (decoded as UTF-8 and as ISO 8859-1),
and also finds the digits of an identifier written with spaces or dots (``2 85 01 75 ...``).
Extra values specific to a test (e.g. the INS a builder uses) can be passed as ``extra``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class SamplePatient:
    """A fictitious patient whose every value is distinctive enough to grep for."""

    family: str = "QUENTINELLE"
    given: str = "Marguerite"
    second_given: str = "Aurélie"
    birth_name: str = "BRASSEUR-LAFFONT"
    nir: str = "285017512345656"  # valid NIR key (56) for body 2850175123456
    ipp: str = "IPP77231"
    birth_date: str = "19850117"
    phone: str = "0612345678"
    phone_intl: str = "+33698765432"
    street: str = "12 RUE DES LILAS"
    city: str = "MONTBRISON"
    email: str = "marguerite.quentinelle@example.org"

    @property
    def values(self) -> tuple[str, ...]:
        return (
            self.family,
            self.given,
            self.second_given,
            self.birth_name,
            self.nir,
            self.ipp,
            self.birth_date,
            self.phone,
            self.phone_intl,
            self.street,
            self.city,
            self.email,
        )

    def pid(self, *, pid32: str = "VALI", ins_oid: str = "1.2.250.1.213.1.4.8") -> str:
        """A PAM-FR PID segment carrying every value (INS in PID-3, phone, address)."""
        fields = [""] * 33
        fields[1] = "1"
        fields[3] = (
            f"{self.ipp}^^^CHU-EXEMPLE&1.2.250.1.999.1&ISO^PI~"
            f"{self.nir}^^^ASIP-SANTE-INS-NIR&{ins_oid}&ISO^INS"
        )
        fields[5] = (
            f"{self.birth_name}^{self.given}^{self.given} {self.second_given}^^^^L~"
            f"{self.family}^{self.given}^^^^^D"
        )
        fields[7] = self.birth_date
        fields[8] = "F"
        fields[11] = f"{self.street}^^{self.city}^^42600^FRA^H"
        fields[13] = f"^PRN^PH^^^^^^^^^{self.phone}~^NET^Internet^{self.email}"
        fields[14] = f"^WPN^CP^^^^^^^^^{self.phone_intl}"
        fields[32] = pid32
        return "PID|" + "|".join(fields[1:])


SAMPLE = SamplePatient()


def _digits_pattern(value: str) -> re.Pattern[str] | None:
    """Digits of ``value`` allowing separators between them (for identifiers and phones)."""
    digits = re.sub(r"\D", "", value)
    if len(digits) < 8:
        return None
    return re.compile(r"[ .\-]?".join(digits))


def leaks(output: str | bytes, values: Iterable[str] = SAMPLE.values) -> list[str]:
    """The sample values found in ``output`` (empty: nothing leaked)."""
    if isinstance(output, bytes):
        texts = [output.decode("utf-8", "replace"), output.decode("latin-1")]
    else:
        texts = [output]
    folded = [t.casefold() for t in texts]
    found: list[str] = []
    for value in values:
        pattern = _digits_pattern(value)
        if any(value.casefold() in t for t in folded) or (
            pattern is not None and any(pattern.search(t) for t in texts)
        ):
            found.append(value)
    return found


def assert_no_patient_data(
    extra: Iterable[str] = (), /, **outputs: str | bytes | Iterable[str | bytes]
) -> None:
    """Fail, naming the output and the values, if any sample value appears in an output.

    ``outputs`` maps a name (``log``, ``ack``, ``cli``...) to text, bytes or several texts.
    """
    values = (*SAMPLE.values, *extra)
    problems: list[str] = []
    for name, output in outputs.items():
        items = [output] if isinstance(output, str | bytes) else list(output)
        for n, item in enumerate(items):
            found = leaks(item, values)
            if found:
                label = name if len(items) == 1 else f"{name}[{n}]"
                problems.append(f"{label} leaks {found}: {_excerpt(item, found[0])}")
    assert not problems, "patient data where it must not be:\n" + "\n".join(problems)


def _excerpt(output: str | bytes, value: str) -> str:
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    at = text.casefold().find(value.casefold())
    return repr(text[max(0, at - 60) : at + 60] if at >= 0 else text[:120])


__all__ = ["SAMPLE", "SamplePatient", "assert_no_patient_data", "leaks"]
