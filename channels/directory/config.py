"""Config model of the ``directory`` source (file drop, polled)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from engine.components import ComponentConfig
from engine.config.types import ByteSize, Duration
from engine.formats.cda import CDA_CONTENT_TYPE


class DirectorySourceConfig(ComponentConfig):
    """Watches a directory: each new file becomes a message; acknowledged by a move."""

    directory: Path = Field(
        description="Directory watched for new files (created if missing).",
        examples=["./var/in/cda"],
    )
    pattern: str = Field(
        default="*.xml",
        description="Glob of the file names taken (case-sensitive); dot files are ignored.",
        examples=["*.xml", "*"],
    )
    format: Literal["cda", "xml", "raw"] = Field(
        default="cda",
        description="What is checked before the commit: a CDA R2 document, any XML, or nothing.",
    )
    content_type: str = Field(
        default=CDA_CONTENT_TYPE,
        description="Content type recorded with each message (route on it).",
        examples=[CDA_CONTENT_TYPE],
    )
    schema_file: Path | None = Field(
        default=None,
        description="Optional XSD (e.g. the ANS CDA_extended.xsd) every CDA must pass.",
    )
    poll_interval: Duration = Field(
        default="2s", validate_default=True, gt=0, description="Time between two scans."
    )
    min_age: Duration = Field(
        default="1s",
        validate_default=True,
        ge=0,
        description="A file is taken only once unchanged for this long (writers still busy).",
    )
    max_size: ByteSize = Field(
        default="20MiB", validate_default=True, gt=0, description="Largest file accepted."
    )
    processed_dir: Path | None = Field(
        default=None, description="Where committed files go; <directory>/processed if unset."
    )
    error_dir: Path | None = Field(
        default=None,
        description="Where refused files go, each with <file>.reason.txt; <directory>/error "
        "if unset.",
    )
    batch: int = Field(
        default=100, ge=1, description="Most files taken per scan (the oldest first)."
    )

    @property
    def processed(self) -> Path:
        return self.processed_dir or self.directory / "processed"

    @property
    def errors(self) -> Path:
        return self.error_dir or self.directory / "error"


__all__ = ["DirectorySourceConfig"]
