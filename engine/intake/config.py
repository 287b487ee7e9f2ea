"""The ``hl7:`` settings a channel receiving HL7v2 accepts (MLLP today, files and HTTP later).

The model validates the YAML and documents it in the JSON Schema;
:meth:`Hl7IntakeConfig.options` turns it into the
:class:`~engine.intake.hl7v2.Hl7IntakeOptions` that :func:`~engine.intake.hl7v2.examine`
takes.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from engine.components import ComponentConfig
from engine.config.types import ByteSize
from engine.errors import ParseError
from engine.formats.hl7v2.charsets import codec_for
from engine.intake.hl7v2 import (
    DmpGating,
    Hl7IntakeOptions,
    OnDecodeError,
    Profile,
    UnknownEvents,
    ValidationMode,
)
from engine.intake.limits import FrameLimits


class Hl7IntakeConfig(ComponentConfig):
    """How a channel examines HL7v2 messages before acknowledging them."""

    profile: Profile = Field(
        default="pam_fr",
        description=(
            "`pam_fr` applies the PAM-FR 2.11 rules to ADT messages (event set, routing "
            "facts, validation); `none` reads MSH only. Other message types are never "
            "affected."
        ),
        examples=["pam_fr", "none"],
    )
    validation: ValidationMode = Field(
        default="warn",
        description=(
            "`off`: no validation (facts only). `warn`: accept, record the findings in the "
            "metadata (`validation.findings`, `validation.report`) and return them as ERR "
            "warnings in the AA. `strict`: refuse a message with an error finding (AE, one "
            "ERR per finding with segment, field and HL7 0357 code)."
        ),
        examples=["warn", "strict", "off"],
    )
    unknown_events: UnknownEvents = Field(
        default="accept",
        description=(
            "An ADT event PAM-FR does not use (A08 included): `accept` stores it, answers "
            "AA and ends it `filtered` with the reason (PAM-FR: unknown events are ignored); "
            "`refuse` answers AE with ERR 201 and records it `rejected`."
        ),
        examples=["accept", "refuse"],
    )
    dmp_gating: DmpGating = Field(
        default="off",
        description=(
            "For a channel feeding the DMP. `refuse`: an ORU or MDM carrying CDA documents "
            "(OBX ED XML) not flagged `DESTDMP=N` (an absent flag counts as DMP-bound) is "
            "checked before the ACK with the DMP gating rules: qualified INS-NIR (PID-32 "
            "VALI), CDA INS equal to PID-3, complete INS traits in the CDA header, no "
            "opposition (ZFA-9 IO), DMP not closed (ZFA-1). A refused message is answered AE "
            "with one ERR per refusal (ERR-3 207, ERR-5 the ANS code 903, 904, 905 or 906) "
            "and recorded `rejected` with the reason. `off`: not checked at intake (the "
            "`dmp_xds` destination still refuses to the dead letter)."
        ),
        examples=["off", "refuse"],
    )

    max_segments: int = Field(
        default=10_000,
        ge=1,
        description=(
            "Most segments in one message. A message with more is refused before any other "
            "check: AE, ERR-3 198 (non-conformant cardinality), the reason naming the limit."
        ),
        examples=[10_000, 500],
    )
    max_repetitions: int = Field(
        default=1_000,
        ge=1,
        description=(
            "Most repetitions of any one field (PID-3, PID-32, ZBE-1 ...). A message with a "
            "field repeated more often is refused before any other check: AE, ERR-3 198 "
            "with the segment and field."
        ),
        examples=[1_000, 50],
    )
    max_field_length: ByteSize | None = Field(
        default=None,
        description=(
            "Longest field, in bytes (unset: only the frame size bounds it). A longer field "
            "is refused before any other check: AE, ERR-3 104 (value too long) with the "
            "segment and field. Lower it for channels that carry no documents."
        ),
        examples=["64KiB", "1MiB"],
    )

    on_decode_error: OnDecodeError = Field(
        default="reject",
        description=(
            "A message whose bytes are not valid in its declared charset (MSH-18, else the "
            "channel default). `reject`: AE, ERR-3 102 at the segment and field of the first "
            "bad byte, recorded `rejected`. `replace`: accepted, the bad bytes read as U+FFFD. "
            "`fallback`: accepted, the whole message read in `fallback_charset` (refused if "
            "it is not valid there either). Accepted ones get an ERR warning in the AA and "
            "the metadata `hl7.decode` (`replace`/`fallback`) and `hl7.codec`, which every "
            "reader downstream (maps, ordering keys, DMP transform) honours."
        ),
        examples=["reject", "replace", "fallback"],
    )
    fallback_charset: str = Field(
        default="8859/1",
        description="HL7 table 0211 character set of `on_decode_error: fallback`.",
        examples=["8859/1", "8859/15"],
    )

    @field_validator("fallback_charset")
    @classmethod
    def _known_charset(cls, value: str) -> str:
        try:
            codec_for(value, "")
        except ParseError as exc:
            raise ValueError(f"unsupported character set {value!r}") from exc
        if not value.strip():
            raise ValueError("fallback_charset must not be empty")
        return value

    def options(self, default_codec: str) -> Hl7IntakeOptions:
        """The intake options for a channel whose default codec is ``default_codec``."""
        return Hl7IntakeOptions(
            default_codec=default_codec,
            profile=self.profile,
            validation=self.validation,
            unknown_events=self.unknown_events,
            dmp_gating=self.dmp_gating,
            limits=FrameLimits(self.max_segments, self.max_repetitions, self.max_field_length),
            on_decode_error=self.on_decode_error,
            fallback_codec=codec_for(self.fallback_charset),
        )


__all__ = ["Hl7IntakeConfig"]
