"""``rs:RegistryResponse``: reading one (client side) and writing one (test endpoint, and
any future repository actor). IHE ITI TF-3 §4.2.4 lists the error codes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lxml import etree

from engine.errors import DocumentError
from engine.formats.xds import constants as c

Status = Literal["Success", "PartialSuccess", "Failure"]

_STATUSES: dict[str, Status] = {
    c.STATUS_SUCCESS: "Success",
    c.STATUS_FAILURE: "Failure",
    c.STATUS_PARTIAL: "PartialSuccess",
    "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:PartialSuccess": "PartialSuccess",
}
_URNS: dict[Status, str] = {
    "Success": c.STATUS_SUCCESS,
    "Failure": c.STATUS_FAILURE,
    "PartialSuccess": c.STATUS_PARTIAL,
}


@dataclass(frozen=True, slots=True)
class RegistryError:
    """One ``rs:RegistryError``: code (``XDSRegistryMetadataError``...), context, location."""

    code: str
    context: str = ""
    location: str = ""
    severity: Literal["Error", "Warning"] = "Error"

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        what = f": {self.context}" if self.context else ""
        return f"{self.code}{where}{what}"


@dataclass(frozen=True, slots=True)
class RegistryResult:
    """A parsed RegistryResponse."""

    status: Status
    errors: tuple[RegistryError, ...] = ()

    @property
    def error_codes(self) -> frozenset[str]:
        return frozenset(e.code for e in self.errors if e.severity == "Error")

    def summary(self, limit: int = 5) -> str:
        """``Failure: XDSRegistryMetadataError: ...; ...`` (first ``limit`` entries)."""
        parts = [str(e) for e in self.errors[:limit]]
        more = len(self.errors) - limit
        if more > 0:
            parts.append(f"and {more} more")
        return f"{self.status}: {'; '.join(parts)}" if parts else self.status


def parse_registry_response(element: etree._Element) -> RegistryResult:
    """Read an ``rs:RegistryResponse`` element (found anywhere under ``element``).

    Raises:
        DocumentError: no RegistryResponse, or an unknown status.
    """
    tag = f"{{{c.RS}}}RegistryResponse"
    node = element if element.tag == tag else element.find(f".//{tag}")
    if node is None:
        raise DocumentError("the answer holds no rs:RegistryResponse", kind="invalid")
    status = _STATUSES.get(node.get("status", ""))
    if status is None:
        raise DocumentError("RegistryResponse has an unknown status", kind="invalid")
    errors = tuple(
        RegistryError(
            code=e.get("errorCode", ""),
            context=" ".join((e.get("codeContext") or e.text or "").split())[:500],
            location=e.get("location", ""),
            severity="Warning" if e.get("severity") == c.SEVERITY_WARNING else "Error",
        )
        for e in node.iterfind(f"{{{c.RS}}}RegistryErrorList/{{{c.RS}}}RegistryError")
    )
    return RegistryResult(status, errors)


def registry_response(status: Status, errors: Sequence[RegistryError] = ()) -> etree._Element:
    """Build an ``rs:RegistryResponse`` element."""
    root = etree.Element(f"{{{c.RS}}}RegistryResponse", nsmap={"rs": c.RS}, status=_URNS[status])
    if errors:
        highest = c.SEVERITY_ERROR if any(e.severity == "Error" for e in errors) else None
        error_list = etree.SubElement(root, f"{{{c.RS}}}RegistryErrorList")
        error_list.set("highestSeverity", highest or c.SEVERITY_WARNING)
        for e in errors:
            node = etree.SubElement(error_list, f"{{{c.RS}}}RegistryError")
            node.set("errorCode", e.code)
            node.set("codeContext", e.context)
            node.set("location", e.location)
            severity = c.SEVERITY_ERROR if e.severity == "Error" else c.SEVERITY_WARNING
            node.set("severity", severity)
    return root


__all__ = [
    "RegistryError",
    "RegistryResult",
    "Status",
    "parse_registry_response",
    "registry_response",
]
