"""Benchmark: Passerelle's lazy ER7 parser vs python-hl7 (``hl7.parse``).

Two workloads on the same messages, best of several rounds:

* ``parse`` -- bytes in, message object out.
* ``parse+read`` -- parse, then read MSH-9, MSH-10, every PID-3 repetition (CX.1 id and
  CX.5 type) and PID-5 family/given names, unescaped.

Datasets: a ~2 KB PAM-FR ADT^A01 written below (fictional patient), and every message of
the shared corpus (``../shared/corpus/hl7v2`` or ``$PASSERELLE_CORPUS``) when present.

python-hl7 is given its best case: the text is decoded and its terminators normalised to
CR before timing (it cannot read bytes with LF terminators); our parser's timing includes
BOM stripping, MSH-18 lookup, decoding and terminator detection.

Usage: ``python -m bench.hl7v2_parse [n]`` (n = messages per round, default 500).
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hl7

from engine.formats.hl7v2 import Message, parse, split_batch

CORPUS = (
    Path(
        os.environ.get(
            "PASSERELLE_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"
        )
    )
    / "hl7v2"
)
ROUNDS = 3

SAMPLE_ADT_A01 = "\r".join(
    [
        "MSH|^~\\&|GAM|CHU-X|DPI|CHU-X|20240306111154||ADT^A01^ADT_A01|3975|P|2.5^FRA^2.11|||||"
        "FRA|UNICODE UTF-8|FR||2.11^IHE_FRANCE-2.11-PAM",
        "EVN||20240306111154||||20240306110000",
        "PID|1||000003^^^CHU-X&000897406&N^PI~279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213"
        ".1.4.10&ISO^INS^^20101207~24000006^^^CHU-X&000897406&M^AN||LÉVÊQUE^HÉLÈNE^HÉLÈNE MARIE"
        "^^Mme^^L~MARTIN^HÉLÈNE^^^Mme^^D||19790328|F|||28 Av de Breteuil^^PARIS^^75007^FRA^H~"
        "^^^^^^BDL^^63220||^PRN^PH^^^^^^^^^0123456789~^NET^Internet^helene.leveque@example.fr"
        "|||S||24000006^^^CHU-X&000897406&M^AN|||||||1|||||N||VALI|20240306111153",
        "PD1||U||||||||||N",
        "ROL||UC|ODRP|10000023084^AGNES^Isabelle^^^^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^L^^^RPPS",
        "NK1|1|MARTIN^PAUL^^^M.|SPO^Conjoint^HL70063|28 Av de Breteuil^^PARIS^^75007^FRA^H|"
        "^PRN^PH^^^^^^^^^0611223344||C^Personne à prévenir^HL70131",
        "PV1|1|I|^^^CHU-X&000897406&M^O^^|R|||801234567897^Réault^Pierre^^^^^^ASIP-SANTE-PS"
        "&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS|||||||||||000897406^^^CHU-X&000897406&M^VN^^20210409"
        "|||||||||||||||||||||||||20240306110000",
        "PV2|||||||CS|20240306100000|20240310080000|||Surveillance post-op\\E\\rapport||||||AN",
        "OBX|1|TX|NOTE^Note^L||Allergie pénicilline \\T\\ iode\\F\\voir dossier\\S\\suite\\R\\fin"
        "||||||F",
        "OBX|2|NM|8302-2^Taille^LN||172|cm^centimètre^UCUM|||||F|||20240306110500",
        "OBX|3|NM|29463-7^Poids^LN||64.5|kg^kilogramme^UCUM|||||F|||20240306110500",
        "AL1|1|DA|PENI^Pénicilline^L|SV",
        "DG1|1||K35.8^Appendicite aiguë, autre et sans précision^I10||20240306|A",
        "IN1|1|MUT^Mutuelle^L|750000001|CPAM PARIS^^^^^^^^^^^^^^75000|||||||||||LÉVÊQUE^HÉLÈNE"
        "|SEL|19790328",
        "ZBE|312^CHU-X^000897406|20240306110000||INSERT|N||Chir V^^^^^CHU-X&000897406&N^UF^^^6268"
        "|Chir V^^^^^CHU-X&000897406&N^UF^^^6268|HMS",
        "ZFA|ACTIF|20240306111154|||||||INO|20240306111154|IC|20240306111154",
        "ZFP|5|54",
        "ZFV|750000001^20240301|||||^^^^^^ORI",
        "ZFM|8|||",
        "ZFD|||Y|N|INSI|20211201||",
    ]
).encode("utf-8")


def _ours_read(m: Message) -> list[str]:
    out = [m.raw("MSH-9"), m.get("MSH-10")]
    pid = m.segment("PID")
    if pid is None:
        return [*out, "", ""]
    reps = range(1, len(pid.repetitions(3)) + 1)
    out += [pid.get(3, r, 1) for r in reps]
    out += [pid.get(3, r, 5) for r in reps]
    return [*out, m.get("PID-5.1"), m.get("PID-5.2")]


def _hl7_read(m: Any) -> list[str]:
    def leaf(field: int, rep: int, comp: int) -> str:
        try:
            return str(m.unescape(m.extract_field("PID", 1, field, rep, comp)))
        except IndexError:  # python-hl7 raises on some absent elements; ours reads ""
            return ""

    msh = m.segment("MSH")
    out = [str(msh[9]), m.unescape(str(msh[10]))]
    try:
        pid = m.segment("PID")
    except KeyError:
        return [*out, "", ""]
    reps = range(1, len(pid[3]) + 1) if len(pid) > 3 else range(0)
    out += [leaf(3, r, 1) for r in reps]
    out += [leaf(3, r, 5) for r in reps]
    return [*out, leaf(5, 1, 1), leaf(5, 1, 2)]


def _corpus_messages() -> list[bytes]:
    if not CORPUS.is_dir():
        return []
    out: list[bytes] = []
    for p in sorted(CORPUS.rglob("*")):
        if p.is_file() and p.read_bytes()[:8].removeprefix(b"\xef\xbb\xbf").startswith(b"MSH"):
            out.extend(split_batch(p.read_bytes()))
    return out


def _for_hl7(raw: bytes) -> str:
    m = parse(raw)
    return m.to_text().replace("\r\n", "\r").replace("\n", "\r")


def _best(fn: Callable[[], None], n: int) -> float:
    """Best seconds per message of ``fn`` (which processes ``n`` messages) over ROUNDS rounds.

    The garbage collector is off while timing, as in :mod:`timeit`.
    """
    best = float("inf")
    for _ in range(ROUNDS):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return best / n


def _measure(messages: list[bytes], n: int) -> dict[str, dict[str, float]]:
    batch = [messages[i % len(messages)] for i in range(n)]
    texts = [_for_hl7(raw) for raw in batch]

    def ours_parse() -> None:
        for raw in batch:
            parse(raw)

    def hl7_parse() -> None:
        for text in texts:
            hl7.parse(text)

    def ours_read() -> None:
        for raw in batch:
            _ours_read(parse(raw))

    def hl7_read() -> None:
        for text in texts:
            _hl7_read(hl7.parse(text))

    workloads = {
        "passerelle parse": ours_parse,
        "python-hl7 parse": hl7_parse,
        "passerelle parse+read": ours_read,
        "python-hl7 parse+read": hl7_read,
    }
    out: dict[str, dict[str, float]] = {}
    for name, fn in workloads.items():
        seconds = _best(fn, n)
        out[name] = {"msg_per_s": 1 / seconds, "us_per_msg": seconds * 1e6}
    for op in ("parse", "parse+read"):
        ours, theirs = out[f"passerelle {op}"], out[f"python-hl7 {op}"]
        out[f"speedup {op}"] = {"x": theirs["us_per_msg"] / ours["us_per_msg"]}
    return out


def _check_same_values(messages: list[bytes]) -> None:
    """Both parsers must read the same values, or the comparison means nothing."""
    for raw in messages:
        if _ours_read(parse(raw)) != _hl7_read(hl7.parse(_for_hl7(raw))):
            raise AssertionError("python-hl7 and passerelle disagree on a benchmark message")


def run(n: int) -> dict[str, Any]:
    """Run every workload with ``n`` messages per round; returns figures per dataset."""
    datasets = {f"sample ADT^A01 ({len(SAMPLE_ADT_A01)} bytes)": [SAMPLE_ADT_A01]}
    corpus = _corpus_messages()
    if corpus:
        datasets[f"corpus ({len(corpus)} messages)"] = corpus
    result: dict[str, Any] = {"n": n, "rounds": ROUNDS, "datasets": {}}
    for name, messages in datasets.items():
        _check_same_values(messages)
        result["datasets"][name] = _measure(messages, n)
    return result


def main(argv: list[str]) -> None:
    n = int(argv[1]) if len(argv) > 1 else 500
    result = run(n)
    print(f"HL7v2 ER7 parse benchmark: {n} messages per round, best of {ROUNDS}")
    for name, rows in result["datasets"].items():
        print(f"\n{name}")
        print(f"  {'workload':<24}{'msg/s':>12}{'µs/msg':>10}")
        for workload, fig in rows.items():
            if workload.startswith("speedup"):
                continue
            print(f"  {workload:<24}{fig['msg_per_s']:>12,.0f}{fig['us_per_msg']:>10.1f}")
        for op in ("parse", "parse+read"):
            print(f"  speed-up {op:<15}{rows[f'speedup {op}']['x']:>11.1f}x")


if __name__ == "__main__":
    main(sys.argv)
