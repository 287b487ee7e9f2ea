"""Generate the ``mappings/tables/xds_*.yaml`` tables from the ANS NOS exports.

``passerelle tables import --from ../shared/corpus/nos`` (or ``make tables``) reads the NOS
files named in :data:`PLAN` (IHE SVS ``RetrieveValueSetResponse`` XML or FHIR R4
``ValueSet``/``CodeSystem`` JSON, as ANS publishes them) and rewrites every generated table,
each with a header naming its source file, table id and version. Updating the terminologies
is therefore: drop the new NOS files in the folder, run the command, review the diff.

Where the sources disagree, the CI-SIS text wins and the choice is made here, visibly:

* ASS_A11 maps the XDS-SD template ``1.3.6.1.4.1.19376.1.2.20`` to five formatCodes (pdf,
  text, jpeg, rtf, tiff); the volet "Transmission de documents CDA en HL7v2"
  (``mapping.md``) says a level-1 CDA takes ``urn:ihe:iti:xds-sd:pdf:2008``: that one is kept.
* The FHIR exports name code systems by canonical URL; the XDS ``codingScheme`` is the OID
  of :data:`SYSTEM_OIDS` (TRE_R209 from the DRIM-M XDM example). A code whose system has no
  known OID is left out and listed in the table header.

Raises :class:`engine.errors.ConfigError` when a source file is missing or unreadable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from engine.errors import ConfigError, DocumentError
from engine.formats.cda.safe_xml import parse_xml

SVS = "{urn:ihe:iti:svs:2008}"
XHTML = "{http://www.w3.org/1999/xhtml}"
NOS = "https://mos.esante.gouv.fr/NOS/"
XDS_SD_TEMPLATE = "1.3.6.1.4.1.19376.1.2.20"
XDS_SD_FORMAT = "urn:ihe:iti:xds-sd:pdf:2008"
#: FHIR canonical URL (table part) → XDS codingScheme.
SYSTEM_OIDS = {
    "TRE_A00-ProducteurDocNonPS": "1.2.250.1.213.1.1.4.6",
    "TRE_A03-ClasseDocument": "1.2.250.1.213.1.1.4.1",
    "TRE_A06-FormatCodeComplementaire": "1.2.250.1.213.1.1.4.2.282",
    "TRE_A07-StatutVisibiliteDocument": "1.2.250.1.213.1.1.4.13",
    "TRE_A09-DICOMuidRegistry": "1.2.840.10008.2.6.1",
    "TRE_A10-NomenclatureURN": "URN",
    "TRE_A11-IheFormatCode": "1.3.6.1.4.1.19376.1.2.3",
    "TRE_R02-SecteurActivite": "1.2.250.1.71.4.2.4",
    "TRE_R209-TypeActivite": "1.2.250.1.213.2.2",
}

Row = tuple[str, str, str, str]  # key, code, system, display


@dataclass(frozen=True, slots=True)
class Source:
    """One NOS file read: its rows, a one-line description and what was left out."""

    file: str
    title: str
    rows: list[Row]
    skipped: list[str]


def _svs(path: Path) -> tuple[etree._Element, str]:
    try:
        root = parse_xml(path.read_bytes())
    except (OSError, DocumentError) as exc:
        raise ConfigError(f"cannot read the NOS file {path}: {exc}") from exc
    vs = root.find(f"{SVS}ValueSet")
    if vs is None:
        raise ConfigError(f"{path}: not an SVS RetrieveValueSetResponse")
    name = vs.get("displayName", "").removesuffix(".tabs")
    title = f"{name} (OID {vs.get('id')}, dateMaj {vs.get('dateMaj')})"
    return vs, title


def svs_value_set(path: Path) -> Source:
    """A JDV/TRE SVS export: code → (codeSystem, displayName)."""
    vs, title = _svs(path)
    rows = [
        (c.get("code", ""), c.get("code", ""), c.get("codeSystem", ""), c.get("displayName", ""))
        for c in vs.iter(f"{SVS}Concept")
    ]
    return Source(path.name, title, rows, [])


def svs_correspondence(path: Path) -> Source:
    """An ASS SVS export: first concept's code → second concept (code, codeSystem)."""
    vs, title = _svs(path)
    rows: list[Row] = []
    for mapped in vs.iter(f"{SVS}MappedConcept"):
        pair = mapped.findall(f"{SVS}Concept")
        if len(pair) == 2:
            source, target = pair
            rows.append(
                (
                    source.get("code", ""),
                    target.get("code", ""),
                    target.get("codeSystem", ""),
                    target.get("displayName", ""),
                )
            )
    return Source(path.name, title, rows, [])


def _narrative_displays(div: str) -> dict[str, str]:
    """Code → display from the generated narrative tables (J10 has no display in compose)."""
    displays: dict[str, str] = {}
    root = etree.fromstring(div.encode("utf-8"))
    for tr in root.iter(f"{XHTML}tr"):
        cells = tr.findall(f"{XHTML}td")
        if len(cells) >= 2 and cells[0].find(f"{XHTML}a") is not None:
            code = "".join(str(t) for t in cells[0].itertext()).strip()
            displays.setdefault(code, "".join(str(t) for t in cells[1].itertext()).strip())
    return displays


def fhir_value_set(path: Path) -> Source:
    """A FHIR ValueSet (compose.include) or CodeSystem (concept) export."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the NOS file {path}: {exc}") from exc
    displays = _narrative_displays(data.get("text", {}).get("div", "<div/>"))
    if data.get("resourceType") == "CodeSystem":
        includes = [{"system": data.get("url", ""), "concept": data.get("concept", [])}]
    else:
        includes = data.get("compose", {}).get("include", [])
    rows: list[Row] = []
    skipped: list[str] = []
    for include in includes:
        table = str(include.get("system", "")).removeprefix(NOS).split("/")[0]
        oid = SYSTEM_OIDS.get(table)
        for concept in include.get("concept", []):
            code = str(concept["code"])
            if oid is None:
                skipped.append(f"{code} ({table}: code system OID unknown)")
                continue
            display = str(concept.get("display") or displays.get(code, ""))
            rows.append((code, code, oid, display))
    oid = next((i["value"].removeprefix("urn:oid:") for i in data.get("identifier", [])), "?")
    title = f"{data.get('name') or data.get('id')} (OID {oid}, version {data.get('version')})"
    return Source(path.name, title, rows, skipped)


@dataclass(frozen=True, slots=True)
class Plan:
    """One generated table: its name, NOS file, reader and what it governs."""

    table: str
    file: str
    read: Callable[[Path], Source]
    governs: str


PLAN = (
    Plan("class_codes", "ValueSet-JDV-J57-ClassCode-DMP.json", fhir_value_set,
         "XDS classCode accepted by the DMP (JDV_J57)"),
    Plan("type_codes", "JDV_J07_XdsTypeCode_CISIS.xml", svs_value_set,
         "XDS typeCode = CDA code (JDV_J07)"),
    Plan("format_codes", "ValueSet-JDV-J10-XdsFormatCode-CISIS.json", fhir_value_set,
         "XDS formatCode (JDV_J10)"),
    Plan("healthcare_facility_types", "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS.xml",
         svs_value_set, "XDS healthcareFacilityTypeCode (JDV_J02)"),
    Plan("practice_settings", "JDV_J04_XdsPracticeSettingCode_CISIS.xml", svs_value_set,
         "XDS practiceSettingCode (JDV_J04)"),
    Plan("confidentiality_codes", "JDV_J08_XdsConfidentialityCode_CISIS.xml", svs_value_set,
         "XDS confidentialityCode (JDV_J08)"),
    Plan("visibility_codes", "CodeSystem-TRE-A07-StatutVisibiliteDocument.json",
         fhir_value_set, "masking and visibility codes (TRE_A07) for ITI-57 updates"),
    Plan("content_type_codes", "ValueSet-JDV-J03-XdsContentTypeCode-CISIS.json",
         fhir_value_set, "SubmissionSet contentTypeCode (JDV_J03)"),
    Plan("author_specialties", "JDV_J01_XdsAuthorSpecialty_CISIS.xml", svs_value_set,
         "author.authorSpecialty (JDV_J01)"),
    Plan("author_roles", "JDV_J47_FunctionCode_CISIS.xml", svs_value_set,
         "author.authorRole = CDA author/functionCode (JDV_J47)"),
    Plan("class_by_type", "ASS_X04-CorrespondanceType-Classe-CISIS.xml", svs_correspondence,
         "typeCode → classCode (ASS_X04)"),
    Plan("format_by_template", "ASS_A11-CorresModeleCDA-XdsFormatCode-CISIS.xml",
         svs_correspondence, "CDA templateId → formatCode (ASS_A11)"),
)  # fmt: skip


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _entries(plan: Plan, source: Source, displays: dict[str, dict[str, str]]) -> Iterator[str]:
    seen: dict[str, str] = {}
    for key, code, system, display in source.rows:
        if plan.table == "format_by_template" and key == XDS_SD_TEMPLATE and code != XDS_SD_FORMAT:
            continue  # the volet: CDA N1 → urn:ihe:iti:xds-sd:pdf:2008 (see the module doc)
        if key in seen:
            if seen[key] != code:
                raise ConfigError(f"{source.file}: {key!r} maps to {seen[key]!r} and {code!r}")
            continue
        seen[key] = code
        if not display:
            display = displays.get(
                "class_codes" if plan.table == "class_by_type" else "format_codes", {}
            ).get(code, "")
        fields = [f"display: {_quote(display)}", f"system: {_quote(system)}"]
        if key != code:
            fields.insert(0, f"code: {_quote(code)}")
        yield f"{_quote(key)}: {{{', '.join(fields)}}}"


def import_tables(source_dir: Path, out_dir: Path) -> dict[str, int]:
    """Rewrite every table of :data:`PLAN` in ``out_dir`` from ``source_dir``.

    Returns table name → number of entries. Raises ConfigError (missing or bad file,
    a correspondence giving two targets for one key).
    """
    read = {}
    for plan in PLAN:
        path = source_dir / plan.file
        if not path.is_file():
            raise ConfigError(f"NOS file {plan.file} not found in {source_dir}")
        read[plan.table] = plan.read(path)
    displays = {name: {r[1]: r[3] for r in s.rows} for name, s in read.items()}
    counts: dict[str, int] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for plan in PLAN:
        source = read[plan.table]
        lines = list(_entries(plan, source, displays))
        header = [
            f"# {plan.governs}.",
            f"# GENERATED by `passerelle tables import` from the ANS NOS file {source.file}:",
            f"# {source.title}. Do not edit: update the NOS file and re-run the import.",
        ]
        header += [f"# Left out: {s}" for s in source.skipped]
        text = "\n".join([*header, "", *lines]) + "\n"
        (out_dir / f"xds_{plan.table}.yaml").write_text(text, encoding="utf-8")
        counts[plan.table] = len(lines)
    return counts


__all__ = ["PLAN", "SYSTEM_OIDS", "Source", "import_tables"]
