"""The ``hl7:`` settings a channel receiving HL7v2 accepts (MLLP today, files and HTTP later).

The model validates the YAML and documents it in the JSON Schema;
:meth:`Hl7IntakeConfig.options` turns it into the
:class:`~engine.intake.hl7v2.Hl7IntakeOptions` that :func:`~engine.intake.hl7v2.examine`
takes.
"""

from __future__ import annotations

from pydantic import Field

from engine.components import ComponentConfig
from engine.intake.hl7v2 import Hl7IntakeOptions, Profile, UnknownEvents, ValidationMode


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

    def options(self, default_codec: str) -> Hl7IntakeOptions:
        """The intake options for a channel whose default codec is ``default_codec``."""
        return Hl7IntakeOptions(
            default_codec=default_codec,
            profile=self.profile,
            validation=self.validation,
            unknown_events=self.unknown_events,
        )


__all__ = ["Hl7IntakeConfig"]
