"""A compiled map: apply it to a message, or turn it into a route transform.

:meth:`CompiledMap.apply` takes the input in any form its source understands (an
:class:`~engine.message.Envelope`, bytes, a parsed HL7v2 ``Message``, an XML element, JSON
data) and returns the output as plain JSON data. It raises only
:class:`~engine.errors.MappingError` (:class:`MapRuntimeError` naming the rule,
:class:`MapNotApplicable` when the map's ``when`` is false).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from engine.components import Payload
from engine.errors import MappingError, ParseError
from engine.formats.hl7v2 import Message, parse, parse_stored
from engine.mapping.context import Context
from engine.mapping.errors import MapRuntimeError
from engine.mapping.nativepaths import safe_parser
from engine.message import Envelope

Fn = Callable[[Context], Any]
_DECIMAL_MARK = "\u0000decimal:"
_DECIMAL_TEXT = re.compile(r'"\\u0000decimal:([-+0-9.eE]+)"')


@dataclass
class CompiledMap:
    """A map ready to run. Build it with :func:`engine.mapping.compile_map`.

    Attributes:
        name: the map's name (its file name without ``.yaml``).
        file: the map file, as given to the compiler.
        source: ``hl7v2``, ``cda`` or ``json``.
        run: the generated function (context in, output out).
        source_code: its Python source, for reading (``print(compiled.source_code)``).
        content_type: the media type of the serialised output.
        uses_decimals: the output may hold ``Decimal`` numbers (serialised exactly).
    """

    name: str
    file: str
    source: str
    content_type: str
    slot_count: int
    run: Fn
    source_code: str = ""
    uses_decimals: bool = False

    def root_of(self, value: Any) -> Any:
        """The document the paths read, from any accepted input form."""
        raw = value.raw if isinstance(value, Envelope) else value
        try:
            if self.source == "hl7v2":
                if isinstance(raw, Message):
                    return raw
                if isinstance(value, Envelope):  # read as intake decided (hl7.decode)
                    return parse_stored(bytes(raw), value.metadata)
                return parse(bytes(raw))
            if self.source == "cda":
                if isinstance(raw, etree._Element):
                    return raw
                return etree.fromstring(bytes(raw), safe_parser())
            if isinstance(raw, bytes | bytearray | str):
                return json.loads(raw)
            return raw
        except ParseError as exc:
            raise MappingError(f"map {self.name!r}: the input is not HL7v2: {exc}") from exc
        except etree.XMLSyntaxError as exc:
            raise MappingError(f"map {self.name!r}: the input is not well-formed XML") from exc
        except (ValueError, TypeError) as exc:
            raise MappingError(f"map {self.name!r}: the input is not valid JSON") from exc

    def apply(self, value: Any) -> Any:
        """The output of the map for one input (a fresh object each call).

        Raises:
            MappingError: a rule failed (MapRuntimeError), the map does not apply
                (MapNotApplicable), or the input cannot be read.
        """
        ctx = Context(self.root_of(value), self.slot_count)
        try:
            return self.run(ctx)
        except MappingError:
            raise
        except Exception as exc:  # a defect: still a MappingError, never patient data
            reason = f"internal error ({type(exc).__name__})"
            raise MapRuntimeError(self.name, "output", "output", self.file, "-", reason) from exc

    def dumps(self, output: Any, *, indent: int | None = None) -> bytes:
        """The output as UTF-8 JSON; decimal numbers keep the digits read (``7.20``)."""
        if self.uses_decimals:
            output = _mark_decimals(output)
        separators = (",", ":") if indent is None else (",", ": ")
        text = json.dumps(output, ensure_ascii=False, indent=indent, separators=separators)
        if self.uses_decimals:
            text = _DECIMAL_TEXT.sub(lambda m: m.group(1), text)
        return text.encode("utf-8")

    def to_transform(
        self, *, validate: bool = True, validator: Callable[[Any, str], None] | None = None
    ) -> Callable[[Envelope], Payload]:
        """A route transform: envelope in, ``Payload(JSON, content_type, metadata)`` out.

        Args:
            validate: check the output with the FHIR R4B models before returning it; a
                failure raises :class:`~engine.mapping.errors.InvalidOutput` (dead letter).
            validator: replaces the FHIR validation (tests, other formats).
        """
        if validate and validator is None:
            from engine.mapping.validation import validate_fhir

            validator = validate_fhir
        check = validator if validate else None

        def transform(envelope: Envelope) -> Payload:
            output = self.apply(envelope)
            if check is not None:
                check(output, self.name)
            metadata: Mapping[str, str] = {**envelope.metadata, "mapping.map": self.name}
            return Payload(self.dumps(output), self.content_type, metadata)

        return transform


def _mark_decimals(value: Any) -> Any:
    if type(value) is Decimal:
        return f"{_DECIMAL_MARK}{value}"
    if isinstance(value, dict):
        return {k: _mark_decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark_decimals(v) for v in value]
    return value


def default_mappings_dir() -> Path:
    """``./mappings``: where routes find their maps unless ``engine.mappings`` says otherwise."""
    return Path("mappings")


__all__ = ["CompiledMap", "default_mappings_dir"]
