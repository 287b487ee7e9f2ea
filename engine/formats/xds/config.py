"""Settings shared by every destination that describes documents with the XDS metadata map
(``dmp_xds`` and ``mssante``): where the tables are, and the codes used when a CDA lacks
them."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from engine.components import ComponentConfig


class XdsMetadataConfig(ComponentConfig):
    """Defaults of the XDS metadata (a base of destination config models)."""

    default_facility_type: str | None = Field(
        default=None, description="healthcareFacilityTypeCode when the CDA has none."
    )
    default_practice_setting: str | None = Field(
        default=None, description="practiceSettingCode when the CDA has none."
    )
    tables_dir: Path | None = Field(
        default=None, description="Directory of the xds_*.yaml tables; mappings/tables if unset."
    )


__all__ = ["XdsMetadataConfig"]
