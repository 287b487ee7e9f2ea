"""FR Core conformance of resources and transaction Bundles.

Which profiles a resource is checked against:

* every FR Core profile it claims in ``meta.profile`` (a claimed FR Core profile that the
  release does not define is itself a finding);
* when it claims none, the FR Core profile of its type: ``fr-core-patient``,
  ``fr-core-encounter``, ``fr-core-location``, ``fr-core-organization``,
  ``fr-core-practitioner``, and for an Observation whose code is a vital sign the matching
  ``fr-core-observation-*`` profile. Types FR Core does not profile (DiagnosticReport,
  Specimen, laboratory Observations, CommunicationRequest…) get the checks below only.

Everywhere in a resource: every extension whose URL is an FR Core extension is checked
against that extension's definition (an unknown FR Core extension URL is a finding), and
no element is empty (``ele-1``). In a Bundle: no two entries share a ``fullUrl`` or a
request URL, and every ``urn:uuid:`` reference names an entry of the Bundle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.corpus import CORPUS
from engine.formats.fhir.frcore.elements import Node, build_tree
from engine.formats.fhir.frcore.matching import in_slice
from engine.formats.fhir.frcore.package import (
    DEFAULT_VERSION,
    FR_CORE_BASE,
    canonical,
    load_package,
)
from engine.formats.fhir.frcore.terminology import Terminology
from engine.formats.fhir.frcore.walker import Finding, Walk, scan

_BY_TYPE = {
    t: f"{FR_CORE_BASE}StructureDefinition/fr-core-{t.lower()}"
    for t in ("Patient", "Encounter", "Location", "Organization", "Practitioner")
}
_HL7_SD = "http://hl7.org/fhir/StructureDefinition/"


class FrCoreChecker:
    """Checks resources against one FR Core release (read from the corpus once)."""

    def __init__(self, version: str = DEFAULT_VERSION, corpus: Path = CORPUS) -> None:
        self.package = load_package(version, corpus)
        self.version = version
        self.terminology = Terminology(self.package)
        self._trees: dict[str, Node | None] = {}
        #: value sets of required bindings that the package cannot expand (not checked)
        self.unchecked_bindings: set[str] = set()
        #: invariants FHIRPath could not evaluate here, with the reason
        self.unsupported_invariants: dict[str, str] = {}

    def tree(self, url: str) -> Node | None:
        url = canonical(url)
        if url not in self._trees:
            structure = self.package.structure(url)
            self._trees[url] = build_tree(structure) if structure is not None else None
        return self._trees[url]

    def profile_type(self, url: str) -> str:
        structure = self.package.structure(url)
        if structure is not None:
            return str(structure.get("type", ""))
        return canonical(url).removeprefix(_HL7_SD) if url.startswith(_HL7_SD) else ""

    # -- which profiles -------------------------------------------------------------------

    def profiles_for(self, resource: dict[str, Any]) -> tuple[list[str], list[str]]:
        """(FR Core profiles to check, claimed FR Core profiles this release lacks)."""
        meta = resource.get("meta")
        listed = meta.get("profile") if isinstance(meta, dict) else None
        claimed = [
            canonical(p)
            for p in (listed if isinstance(listed, list) else [])
            if isinstance(p, str) and p.startswith(FR_CORE_BASE)
        ]
        known = [p for p in claimed if self.package.structure(p) is not None]
        unknown = [p for p in claimed if self.package.structure(p) is None]
        if claimed:
            return known, unknown
        kind = resource.get("resourceType", "")
        if kind in _BY_TYPE and self.package.structure(_BY_TYPE[kind]) is not None:
            return [_BY_TYPE[kind]], []
        if kind == "Observation":
            return self._vital_sign_profiles(resource), []
        return [], []

    def _vital_sign_profiles(self, resource: dict[str, Any]) -> list[str]:
        code = resource.get("code")
        codings = code.get("coding") if isinstance(code, dict) else None
        if not isinstance(codings, list):
            return []
        found: list[str] = []
        for url in self.package.profiles_of("Observation"):
            tree = self.tree(url)
            coding = tree.descend("code.coding") if tree is not None else None
            if coding is None or not coding.sliced:
                continue
            if any(
                in_slice(c, "Coding", s, coding) for s in coding.slices.values() for c in codings
            ):
                found.append(url)
        return found

    # -- checks ---------------------------------------------------------------------------

    def check_resource(
        self, resource: Any, path: str = "", local_types: dict[str, str] | None = None
    ) -> list[Finding]:
        """Findings for one resource (``path`` prefixes the instance paths)."""
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            return [Finding(path or "(root)", "resource", "not a FHIR resource", "FR Core")]
        root = path or resource["resourceType"]
        local = local_types or {}
        findings: list[Finding] = []
        profiles, unknown = self.profiles_for(resource)
        for url in unknown:
            name = url.rsplit("/", 1)[-1]
            findings.append(
                Finding(
                    f"{root}.meta.profile",
                    "profile",
                    f"{name} is not in FR Core {self.version}",
                    name,
                )
            )
        for url in profiles:
            tree = self.tree(url)
            if tree is None:
                continue
            walk = Walk(self, url.rsplit("/", 1)[-1], resource, local)
            walk.element(resource, tree, root, tree.name, resource["resourceType"])
            findings += walk.findings
        findings += self._everywhere(resource, root, local)
        # The same rule met through a profile and through an extension's own definition
        # is reported once.
        unique: dict[tuple[str, str, str], Finding] = {}
        for finding in findings:
            unique.setdefault((finding.path, finding.rule, finding.severity), finding)
        return list(unique.values())

    def _everywhere(
        self, resource: dict[str, Any], root: str, local: dict[str, str]
    ) -> list[Finding]:
        """ele-1 and FR Core extensions, wherever they are in the resource."""
        findings: list[Finding] = []

        def visit(value: Any, where: str) -> None:
            if value is None or value == "" or value == {} or value == []:
                findings.append(
                    Finding(
                        where, "invariant ele-1", "element has no value and no children", "FHIR"
                    )
                )
            if not isinstance(value, dict):
                return
            url = value.get("url")
            is_extension = where.rsplit(".", 1)[-1].split("[")[0] in (
                "extension",
                "modifierExtension",
            )
            if is_extension and isinstance(url, str) and url.startswith(FR_CORE_BASE):
                tree = self.tree(url)
                name = canonical(url).rsplit("/", 1)[-1]
                if tree is None:
                    findings.append(
                        Finding(
                            where,
                            "extension",
                            f"{name} is not an FR Core {self.version} extension",
                            name,
                        )
                    )
                    return
                walk = Walk(self, name, resource, local)
                walk.element(value, tree, where, "Extension", "Extension")
                findings.extend(walk.findings)

        scan(resource, root, visit)
        return findings

    def check(self, output: Any) -> list[Finding]:
        """Findings for a resource, or for a Bundle and each of its entries."""
        if not isinstance(output, dict) or output.get("resourceType") != "Bundle":
            return self.check_resource(output)
        findings: list[Finding] = []
        listed = output.get("entry")
        entries = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
        local = {
            e["fullUrl"]: e["resource"]["resourceType"]
            for e in entries
            if isinstance(e.get("fullUrl"), str)
            and isinstance(e.get("resource"), dict)
            and isinstance(e["resource"].get("resourceType"), str)
        }
        findings += _bundle_rules(entries, local)
        for index, entry in enumerate(entries):
            if "resource" in entry:
                findings += self.check_resource(
                    entry["resource"], f"Bundle.entry[{index}].resource", local
                )
        return findings


def _bundle_rules(entries: list[dict[str, Any]], local: dict[str, str]) -> list[Finding]:
    findings: list[Finding] = []
    seen_full: dict[str, int] = {}
    seen_request: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = f"Bundle.entry[{index}]"
        full = entry.get("fullUrl")
        if isinstance(full, str):
            if full in seen_full:
                findings.append(
                    Finding(
                        f"{where}.fullUrl",
                        "bundle",
                        f"same fullUrl as entry {seen_full[full]}",
                        "Bundle",
                    )
                )
            seen_full.setdefault(full, index)
        request = entry.get("request", {})
        if isinstance(request, dict) and isinstance(request.get("url"), str):
            key = f"{request.get('method', '')} {request['url']}"
            if key in seen_request:
                findings.append(
                    Finding(
                        f"{where}.request.url",
                        "bundle",
                        f"same request URL as entry {seen_request[key]}",
                        "Bundle",
                    )
                )
            seen_request.setdefault(key, index)

        def visit(value: Any, at: str) -> None:
            if isinstance(value, dict):
                ref = value.get("reference")
                if isinstance(ref, str) and ref.startswith("urn:uuid:") and ref not in local:
                    findings.append(
                        Finding(
                            at + ".reference",
                            "bundle",
                            "urn:uuid reference to no entry of the Bundle",
                            "Bundle",
                        )
                    )

        if isinstance(entry.get("resource"), dict):
            scan(entry["resource"], f"{where}.resource", visit)
    return findings


__all__ = ["FrCoreChecker"]
