"""The answer of the DMP (HTTP status, SOAP fault, RegistryResponse) as a delivery outcome.

=====================================================  =====================================
answer                                                 outcome
=====================================================  =====================================
RegistryResponse Success                               sent
RegistryResponse PartialSuccess                        sent; the detail lists the errors
                                                       (resending would duplicate the part
                                                       already registered)
Failure whose errors are all XDSDuplicateUniqueId-     sent ("already registered"): the same
InRegistry                                             uniqueId is there (a redelivery after
                                                       a crash); a different content gives
                                                       XDSNonIdenticalHash instead
Failure whose errors are all transient (Busy,          retry
OutOfResources, XDSRegistryError, XDSRepositoryError)
Failure with any other error (metadata, patient id,    dead letter at once, with the error
unknown patient, hash, DMP-specific codes...)          list
SOAP fault Receiver                                    retry
SOAP fault Sender, MustUnderstand, VersionMismatch,    dead letter
DataEncodingUnknown (bad VIHF, refused request)
HTTP 429, 503 (honours Retry-After), other 5xx         retry
without a readable SOAP answer
HTTP 4xx without a readable SOAP answer                dead letter
2xx without a readable RegistryResponse                retry
transport error (connect, TLS, timeout, reset)         retry
=====================================================  =====================================
"""

from __future__ import annotations

from channels.dmp import mtom
from channels.dmp.soap import SoapFault, read_envelope
from engine.errors import DocumentError, PermanentDeliveryError, RetryableDeliveryError
from engine.formats.xds.response import parse_registry_response

TRANSIENT_ERRORS = frozenset(
    {
        "XDSRegistryBusy",
        "XDSRepositoryBusy",
        "XDSRegistryOutOfResources",
        "XDSRepositoryOutOfResources",
        "XDSRegistryError",
        "XDSRepositoryError",
    }
)
ALREADY_REGISTERED = frozenset({"XDSDuplicateUniqueIdInRegistry"})


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def interpret(
    status: int,
    body: bytes,
    content_type: str,
    *,
    retry_after: str | None = None,
    max_bytes: int,
) -> str:
    """The delivery detail for a successful answer; raises for the others (table above).

    Raises:
        RetryableDeliveryError: a transient failure.
        PermanentDeliveryError: a definitive refusal.
    """
    if status in (429, 503):
        raise RetryableDeliveryError(
            f"DMP answered HTTP {status}", retry_after=_retry_after(retry_after)
        )
    try:
        part = mtom.decode(body, content_type)
        _, child = read_envelope(part.root, max_bytes=max_bytes)
        result = parse_registry_response(child)
    except SoapFault as fault:
        if fault.transient:
            raise RetryableDeliveryError(str(fault)) from fault
        raise PermanentDeliveryError(str(fault)) from fault
    except DocumentError as exc:
        reason = f"DMP answered HTTP {status} without a usable RegistryResponse ({exc})"
        if 400 <= status < 500:
            raise PermanentDeliveryError(reason) from exc
        raise RetryableDeliveryError(reason) from exc
    if result.status == "Success":
        return "DMP: Success"
    if result.status == "PartialSuccess":
        return f"DMP: {result.summary()}"
    codes = result.error_codes
    if codes and codes <= ALREADY_REGISTERED:
        return f"DMP: already registered ({result.summary()})"
    if codes and codes <= TRANSIENT_ERRORS:
        raise RetryableDeliveryError(f"DMP: {result.summary()}")
    raise PermanentDeliveryError(f"DMP: {result.summary()}")


__all__ = ["ALREADY_REGISTERED", "TRANSIENT_ERRORS", "interpret"]
