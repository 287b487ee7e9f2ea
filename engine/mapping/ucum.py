"""A UCUM syntax check for laboratory units (OBX-6): is this unit a valid UCUM expression?

Grammar (UCUM §2, case-sensitive form): ``main := '/' term | term``; ``term := component
(('.' | '/') component)*``; ``component := annotatable annotation? | annotation | factor |
'(' term ')'``; ``annotatable := simple-unit exponent?``; ``simple-unit := prefix?
metric-atom | atom``. The atoms are a curated subset of the UCUM table of units
(base units, SI and clinical units, arbitrary units): those a laboratory result uses. A
unit that uses an atom outside this subset is reported as not UCUM — then the map keeps
the unit as text without a ``system``, never a false UCUM claim.

:func:`ucum_code` also accepts the micro sign ``µ`` (U+00B5) and the Greek ``μ`` written for
the ``u`` prefix (``µmol/L`` → ``umol/L``).
"""

from __future__ import annotations

import re
from functools import lru_cache

PREFIXES = (
    "Y", "Z", "E", "P", "T", "G", "M", "k", "h", "da", "d", "c", "m", "u", "n", "p", "f",
    "a", "z", "y",
)  # fmt: skip

#: Atoms that take a prefix (UCUM "metric" units).
METRIC = frozenset(
    {
        "m", "s", "g", "rad", "K", "C", "cd", "mol", "sr", "Hz", "N", "Pa", "J", "W", "A",
        "V", "F", "Ohm", "S", "Wb", "T", "H", "lm", "lx", "Bq", "Gy", "Sv", "l", "L", "ar",
        "t", "bar", "u", "eV", "pc", "Cel", "kat", "U", "eq", "osm", "[iU]", "[IU]", "g%",
        "m[Hg]", "m[H2O]", "B", "Np", "Ci", "R", "RAD", "REM", "G", "P", "St", "cal",
        "[car_m]", "dyn", "erg", "Gal", "Mx", "Oe", "b", "Bi", "Ky", "Gb", "ph", "sb", "Lmb",
        "gf", "mho", "st", "[ppb]", "bit", "By", "Bd", "[HPF]",
    }
)  # fmt: skip

#: Atoms without prefixes.
NON_METRIC = frozenset(
    {
        "10*", "10^", "%", "[ppth]", "[ppm]", "[pptr]", "[pi]", "min", "h", "d", "a", "wk",
        "mo", "a_t", "a_j", "a_g", "mo_j", "mo_g", "mo_s", "'", "''", "deg", "gon", "[pH]",
        "[arb'U]", "[USP'U]", "[GPL'U]", "[MPL'U]", "[APL'U]", "[beth'U]", "[anti'Xa'U]",
        "[todd'U]", "[dye'U]", "[smgy'U]", "[bdsk'U]", "[ka'U]", "[knk'U]", "[mclg'U]",
        "[tb'U]", "[CCID_50]", "[TCID_50]", "[EID_50]", "[PFU]", "[FFU]", "[CFU]", "[IR]",
        "[BAU]", "[AU]", "[Amb'a'1'U]", "[PNU]", "[Lf]", "[D'ag'U]", "[FEU]", "[ELU]",
        "[EU]", "[drp]", "[LPF]", "[mesh_i]", "[in_i]", "[ft_i]", "[lb_av]", "[oz_av]",
        "[degF]", "[degR]", "[degRe]", "[hp'_X]", "[hp'_C]", "[kp_X]", "[kp_C]",
        "[diop]", "[p'diop]", "%[slope]", "[S]", "[HP]", "[MET]", "[g]", "[c]",
        "[h]", "[k]", "[e]", "[m_e]", "[m_p]", "[G]", "[ly]", "[lne]", "[dr_av]", "[gal_us]",
        "[qt_us]", "[pt_us]", "[foz_us]", "[tsp_us]", "[tbs_us]", "[cup_us]", "[in_i'Hg]",
        "[in_i'H2O]", "[psi]", "[Btu]", "[wood'U]", "[mm'Hg]", "[hnsf'U]",
        "[hp_X]", "[hp_C]", "[kp_M]", "[hp_M]", "[kp_Q]", "[hp_Q]", "[CH]",
        "[sft_i]", "[sin_i]", "[yd_i]", "[mi_i]", "[nmi_i]", "[knt_i]", "[cft_i]",
        "[cin_i]", "[cr_i]",
    }
)  # fmt: skip

_ANNOTATION = re.compile(r"\{[!-z|~]*\}")
_EXPONENT = re.compile(r"^(.*?)([+-]?[0-9]+)$")
_DIGITS = re.compile(r"^[0-9]+$")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def main(self) -> bool:
        if self.peek() == "/":
            self.pos += 1
        if not self.term():
            return False
        return self.pos == len(self.text)

    def term(self) -> bool:
        if not self.component():
            return False
        while self.peek() in (".", "/") and self.peek():
            self.pos += 1
            if not self.component():
                return False
        return True

    def component(self) -> bool:
        if self.peek() == "(":
            self.pos += 1
            if not self.term() or self.peek() != ")":
                return False
            self.pos += 1
            return True
        if self.peek() == "{":
            return self.annotation()
        start = self.pos
        depth = 0
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "[":
                depth += 1
            elif c == "]":
                depth -= 1
            elif depth == 0 and c in "./(){":
                break
            self.pos += 1
        token = self.text[start : self.pos]
        if not token or not _annotatable(token):
            return False
        return self.annotation() if self.peek() == "{" else True

    def annotation(self) -> bool:
        match = _ANNOTATION.match(self.text, self.pos)
        if match is None:
            return False
        self.pos = match.end()
        return True


def _simple(symbol: str) -> bool:
    if symbol in METRIC or symbol in NON_METRIC:
        return True
    return any(symbol.startswith(p) and symbol[len(p) :] in METRIC for p in PREFIXES)


def _annotatable(token: str) -> bool:
    if _DIGITS.match(token):
        return True  # a factor
    if _simple(token):
        return True
    match = _EXPONENT.match(token)
    return bool(match and match.group(1) and _simple(match.group(1)))


@lru_cache(maxsize=4096)
def is_ucum(unit: str) -> bool:
    """Whether ``unit`` is a valid (case-sensitive) UCUM expression of the curated atoms."""
    if not unit or any(c.isspace() for c in unit) or not unit.isascii():
        return False
    return _Parser(unit).main()


def ucum_code(unit: str) -> str:
    """The UCUM code of a unit as labs write it (``µ`` for micro), or ``""``."""
    code = unit.strip().replace("\u00b5", "u").replace("\u03bc", "u")
    return code if is_ucum(code) else ""


__all__ = ["METRIC", "NON_METRIC", "PREFIXES", "is_ucum", "ucum_code"]
