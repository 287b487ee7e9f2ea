"""TD0.2: is the patient's DMP open? Checked before feeding when a destination sets
``check_dmp_status: true``.

The public description of TD0.2 (ANS IG PDSM4DMP ``transaction_td02.md``, draft) is a FHIR
search of the patient by INS (``Patient?identifier=urn:oid:<oid>|<ins>``), sent here as the
equivalent ``POST <status_url>/Patient/_search`` so that the INS is never in a URL, and
answering a ``searchset`` Bundle: no entry = no DMP; ``Patient.active`` false = DMP closed.
Either refuses the delivery with ANS 906 before any feeding (reasons name no value); an
unreachable or unreadable service is a retry. Opposition to feeding is not a TD0.2 answer:
it is recorded locally (ZFA-9) and checked by :func:`engine.formats.xds.gating.check_facts`.
"""

from __future__ import annotations

import httpx

from engine.errors import PermanentDeliveryError, RetryableDeliveryError
from engine.formats.cda.ins import Ins
from engine.formats.xds.gating import DmpRefusal

FHIR_JSON = "application/fhir+json"


async def check_status(client: httpx.AsyncClient, url: str, ins: Ins, *, max_bytes: int) -> None:
    """Return when the patient's DMP is open; raise otherwise (see the module doc)."""
    form = {"identifier": f"urn:oid:{ins.oid}|{ins.value}"}
    try:  # POST _search: the INS stays out of URLs, hence out of every access log
        response = await client.post(
            f"{url.rstrip('/')}/Patient/_search", data=form, headers={"Accept": FHIR_JSON}
        )
    except httpx.HTTPError as exc:
        raise RetryableDeliveryError(
            f"DMP status (TD0.2) unreachable: {type(exc).__name__}"
        ) from exc
    if response.status_code != 200 or len(response.content) > max_bytes:
        raise RetryableDeliveryError(f"DMP status (TD0.2) answered HTTP {response.status_code}")
    try:
        bundle = response.json()
        entries = [e["resource"] for e in bundle.get("entry") or []]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RetryableDeliveryError("DMP status (TD0.2): unreadable answer") from exc
    patients = [r for r in entries if isinstance(r, dict) and r.get("resourceType") == "Patient"]
    if not patients:
        refusal = DmpRefusal("906", "the patient has no DMP (TD0.2)")
        raise PermanentDeliveryError(f"not sent to the DMP: {refusal}")
    if patients[0].get("active") is not True:
        refusal = DmpRefusal("906", "the patient's DMP is closed (TD0.2)")
        raise PermanentDeliveryError(f"not sent to the DMP: {refusal}")


__all__ = ["check_status"]
