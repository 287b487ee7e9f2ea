"""The FHIR R4 (4.0.1) core code systems that FR Core profiles bind with strength
*required*, which the FR Core package references but does not contain.

Each is the complete, fixed code list of the FHIR R4 specification
(``http://hl7.org/fhir/R4/codesystem-<name>.html``, CC0); the ValueSet of the same name
includes the whole code system. Value sets FR Core binds that rest on large external
terminologies (UCUM units, ANS NOS tables such as TRE-R13) are not here: those bindings are
reported as not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_R4 = "http://hl7.org/fhir/"

CORE_CODE_SYSTEMS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        f"{_R4}identifier-use": ("usual", "official", "temp", "secondary", "old"),
        f"{_R4}name-use": ("usual", "official", "temp", "nickname", "anonymous", "old", "maiden"),
        f"{_R4}address-use": ("home", "work", "temp", "old", "billing"),
        f"{_R4}address-type": ("postal", "physical", "both"),
        f"{_R4}contact-point-system": ("phone", "fax", "email", "pager", "url", "sms", "other"),
        f"{_R4}contact-point-use": ("home", "work", "temp", "old", "mobile"),
        f"{_R4}administrative-gender": ("male", "female", "other", "unknown"),
        f"{_R4}encounter-status": (
            "planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled",
            "entered-in-error", "unknown",
        ),
        f"{_R4}encounter-location-status": ("planned", "active", "reserved", "completed"),
        f"{_R4}link-type": ("replaced-by", "replaces", "refer", "seealso"),
        f"{_R4}observation-status": (
            "registered", "preliminary", "final", "amended", "corrected", "cancelled",
            "entered-in-error", "unknown",
        ),
        f"{_R4}quantity-comparator": ("<", "<=", ">=", ">"),
        f"{_R4}days-of-week": ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
        f"{_R4}location-status": ("active", "suspended", "inactive"),
        f"{_R4}location-mode": ("instance", "kind"),
    }
)  # fmt: skip
"""Code system URL → its codes."""

CORE_VALUE_SETS: Mapping[str, str] = MappingProxyType(
    {f"{_R4}ValueSet/{url.removeprefix(_R4)}": url for url in CORE_CODE_SYSTEMS}
)
"""ValueSet URL → the code system it includes entirely (same name)."""

__all__ = ["CORE_CODE_SYSTEMS", "CORE_VALUE_SETS"]
