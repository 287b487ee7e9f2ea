"""Writing the audit trail: one append-only entry per act, never with patient data.

Actions: ``login``, ``logout``, ``payload.view``, ``replay``, ``release``,
``destination.pause``/``destination.resume``, ``channel.stop``/``channel.start``,
``config.reload``, ``account.create``/``account.update``/``account.delete``,
``token.create``/``token.revoke``. Objects are ids and names; details are our own short
texts (codes, counts), never message content.
"""

from __future__ import annotations

import logging
from datetime import datetime

from engine.errors import StoreError
from engine.store.base import Store
from engine.store.console import AuditEntry

log = logging.getLogger(__name__)


async def record(
    store: Store,
    *,
    at: datetime,
    actor: str,
    action: str,
    object: str,
    outcome: str = "ok",
    detail: str = "",
    client: str = "",
) -> None:
    """Append one entry. A failure to write it raises (the act is then refused by the
    caller's error handling rather than done unaudited)."""
    entry = AuditEntry(
        at=at,
        actor=actor,
        action=action,
        object=object,
        outcome=outcome,
        detail=detail[:200],
        client=client,
    )
    try:
        await store.append_audit(entry)
    except StoreError:
        log.error("Audit entry not written.", extra={"action": action, "object": object})
        raise


def entry_json(entry: AuditEntry) -> dict[str, object]:
    """The API form of an entry."""
    return {
        "id": entry.id,
        "at": entry.at.isoformat().replace("+00:00", "Z"),
        "actor": entry.actor,
        "action": entry.action,
        "object": entry.object,
        "outcome": entry.outcome,
        "detail": entry.detail,
        "client": entry.client,
    }


__all__ = ["entry_json", "record"]
