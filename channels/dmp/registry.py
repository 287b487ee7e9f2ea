"""The DMP registry over SOAP 1.2: ITI-18 (find a document by uniqueId) and ITI-57 (status
and metadata updates), with the same VIHF, WS-Addressing and mutual TLS as ITI-41.

Both transactions go to the destination's ``registry_url``. Answers are read like ITI-41
answers (:mod:`channels.dmp.outcome`): transient failures raise RetryableDeliveryError,
refusals PermanentDeliveryError, so an update is retried or dead-lettered like a feeding.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
from lxml import etree

from channels.dmp import mtom, soap
from channels.dmp.outcome import TRANSIENT_ERRORS, interpret
from engine.errors import DocumentError, PermanentDeliveryError, RetryableDeliveryError
from engine.formats.xds import registry as r
from engine.formats.xds.registry import RegistryEntry

Assertion = Callable[[str], etree._Element]
"""Builds a signed VIHF for a patient id (CX)."""


class RegistryClient:
    """ITI-18 and ITI-57 calls to ``url`` through ``client`` (owned by the destination)."""

    def __init__(
        self, client: httpx.AsyncClient, url: str, assertion: Assertion, *, max_bytes: int
    ) -> None:
        self._client, self.url, self._assertion, self._max = client, url, assertion, max_bytes

    async def _call(
        self, body: etree._Element, action: str, patient_id: str
    ) -> tuple[int, bytes, str]:
        envelope = soap.envelope(
            body,
            action=action,
            to=self.url,
            message_id=f"urn:uuid:{uuid.uuid4()}",
            security=self._assertion(patient_id),
        )
        raw = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        headers = {"Content-Type": f'application/soap+xml; charset=UTF-8; action="{action}"'}
        try:
            response = await self._client.post(self.url, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            raise RetryableDeliveryError(f"DMP registry unreachable: {type(exc).__name__}") from exc
        if len(response.content) > self._max:
            raise RetryableDeliveryError(f"DMP registry answer larger than {self._max} bytes")
        return response.status_code, response.content, response.headers.get("content-type", "")

    async def find(self, unique_id: str, patient_id: str) -> RegistryEntry | None:
        """The registry entry of document ``unique_id`` (ITI-18 GetDocuments): the Approved
        one, else the latest version; None when the registry does not know it.

        Raises:
            RetryableDeliveryError / PermanentDeliveryError: the query failed.
        """
        status, body, content_type = await self._call(
            r.get_documents([unique_id]), r.ITI18_ACTION, patient_id
        )
        try:
            part = mtom.decode(body, content_type)
            _, child = soap.read_envelope(part.root, max_bytes=self._max)
            result, entries = r.parse_query_response(child)
        except soap.SoapFault as fault:
            error = RetryableDeliveryError if fault.transient else PermanentDeliveryError
            raise error(f"DMP registry (ITI-18): {fault}") from fault
        except DocumentError as exc:
            error = PermanentDeliveryError if 400 <= status < 500 else RetryableDeliveryError
            raise error(f"DMP registry (ITI-18) HTTP {status}: {exc}") from exc
        if result.status != "Success":
            transient = result.error_codes and result.error_codes <= TRANSIENT_ERRORS
            error = RetryableDeliveryError if transient else PermanentDeliveryError
            raise error(f"DMP registry (ITI-18): {result.summary()}")
        found = [e for e in entries if e.unique_id == unique_id]
        approved = [
            e for e in found if e.status == "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
        ]
        if approved:
            return approved[0]
        return max(found, key=lambda e: int(e.version) if e.version.isdigit() else 0, default=None)

    async def update(self, request: etree._Element, patient_id: str) -> str:
        """Send an ITI-57 request; the delivery detail (:func:`channels.dmp.outcome.interpret`)."""
        status, body, content_type = await self._call(request, r.ITI57_ACTION, patient_id)
        return interpret(status, body, content_type, max_bytes=self._max)


__all__ = ["RegistryClient"]
