"""JSON Schemas of the admin API's bodies, by name (``components.schemas`` of the OpenAPI
document). Routes refer to them by name; tests check the answers against them."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """An object with these required and optional properties."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": sorted(required),
    }


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
NUM_OR_NULL: Schema = {"type": ["number", "null"]}
STR_OR_NULL: Schema = {"type": ["string", "null"]}
TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
COUNTS: Schema = {"type": "object", "additionalProperties": INT}
ROLE: Schema = {"type": "string", "enum": ["viewer", "operator", "admin"]}
FINESS_LIST: Schema = array({"type": "string", "pattern": "^[0-9]{9}$"})
CURSOR: Schema = STR_OR_NULL

SCHEMAS: dict[str, Schema] = {
    "Problem": obj({"type": STR, "title": STR, "status": INT, "detail": STR}),
    "Login": obj({"username": STR, "password": STR}),
    "Session": obj({"user": STR, "role": ROLE, "establishments": FINESS_LIST, "csrf_token": STR}),
    "Overview": obj(
        {
            "generated_at": TIME,
            "channels": array(ref("ChannelStatus")),
            "destinations": array(ref("DestinationStatus")),
            "nodes": array(obj({"node": STR, "pid": INT, "heartbeat_at": TIME, "alive": BOOL})),
        }
    ),
    "ChannelStatus": obj(
        {
            "name": STR,
            "type": STR_OR_NULL,
            "establishment": STR_OR_NULL,
            "status": {"enum": ["listening", "stopped", "failed", "unknown"]},
            "counts": COUNTS,
            "last_received_at": TIME,
            "oldest_waiting_at": TIME,
            "last_error": STR_OR_NULL,
            "last_error_at": TIME,
        }
    ),
    "DestinationStatus": obj(
        {
            "name": STR,
            "type": STR_OR_NULL,
            "establishment": STR_OR_NULL,
            "status": {"enum": ["ok", "failing", "circuit_open", "half_open", "paused"]},
            "counts": COUNTS,
            "backlog": INT,
            "oldest_waiting_at": TIME,
            "circuit": obj(
                {"state": STR, "failures": INT, "opened_at": TIME, "next_probe_at": TIME}
            ),
            "last_error": STR_OR_NULL,
            "last_error_at": TIME,
            "last_sent_at": TIME,
        }
    ),
    "Activity": obj(
        {
            "bucket": INT,
            "since": TIME,
            "series": array(
                obj(
                    {
                        "kind": {"enum": ["channel", "destination"]},
                        "name": STR,
                        "points": array(
                            obj(
                                {
                                    "start": TIME,
                                    "ok": INT,
                                    "failed": INT,
                                    "latency_ms": NUM_OR_NULL,
                                }
                            )
                        ),
                    }
                )
            ),
        }
    ),
    "MessageItem": obj(
        {
            "id": STR,
            "channel": STR,
            "establishment": STR_OR_NULL,
            "state": STR,
            "received_at": TIME,
            "updated_at": TIME,
            "control_id": STR_OR_NULL,
            "message_type": STR_OR_NULL,
            "reason": STR,
        }
    ),
    "MessagePage": obj({"items": array(ref("MessageItem")), "next": CURSOR}),
    "MessageDetail": obj(
        {
            "id": STR,
            "channel": STR,
            "state": STR,
            "received_at": TIME,
            "updated_at": TIME,
            "control_id": STR_OR_NULL,
            "message_type": STR_OR_NULL,
            "reason": STR,
            "metadata": {"type": "object", "additionalProperties": STR},
            "history": array(obj({"at": TIME, "from": STR_OR_NULL, "to": STR, "reason": STR})),
            "deliveries": array(ref("Delivery")),
        },
        {"establishment": STR_OR_NULL, "content_type": STR},
    ),
    "Delivery": obj(
        {
            "id": STR,
            "destination": STR,
            "route": STR,
            "state": STR,
            "attempts": INT,
            "last_error": STR_OR_NULL,
            "next_attempt_at": TIME,
            "released": BOOL,
            "attempt_log": array(obj({"number": INT, "at": TIME, "outcome": STR, "detail": STR})),
        }
    ),
    "RawMessage": obj(
        {
            "charset": STR,
            "size": INT,
            "text": STR,
            "format": {"enum": ["hl7v2", "xml", "other"]},
            "segments": {
                "type": ["array", "null"],
                "items": obj({"name": STR, "fields": array(STR)}),
            },
        },
        {"truncated": BOOL},
    ),
    "Ack": obj({"ack": STR_OR_NULL, "note": STR}),
    "Payload": {
        "type": ["object", "null"],
        "properties": {"content_type": STR, "text": STR, "truncated": BOOL},
        "required": ["content_type", "text"],
    },
    "AttemptPayloads": obj(
        {
            "items": array(
                obj({"number": INT, "sent": ref("Payload"), "response": ref("Payload")})
            ),
            "note": STR,
        }
    ),
    "ReplayRequest": obj({}, {"destination": STR, "resend_sent": BOOL, "dry_run": BOOL}),
    "ReplayResult": obj(
        {"note": STR},
        {
            "replayed": BOOL,
            "would_replay": BOOL,
            "routes": array(obj({"route": STR, "destination": STR, "mapping": STR_OR_NULL})),
        },
    ),
    "Released": obj({"id": STR, "state": STR, "released": BOOL}),
    "DestinationControl": obj({"name": STR, "paused": BOOL}),
    "ChannelControl": obj({"name": STR, "status": STR}),
    "Reloaded": obj({"reloaded": BOOL, "summary": STR}),
    "Account": obj(
        {
            "name": STR,
            "role": ROLE,
            "establishments": FINESS_LIST,
            "disabled": BOOL,
            "source": STR,
            "created_at": TIME,
            "updated_at": TIME,
        }
    ),
    "AccountList": obj({"items": array(ref("Account"))}),
    "AccountCreate": obj(
        {"name": STR, "role": ROLE}, {"password": STR, "establishments": FINESS_LIST}
    ),
    "AccountPatch": obj(
        {}, {"role": ROLE, "password": STR, "establishments": FINESS_LIST, "disabled": BOOL}
    ),
    "Token": obj(
        {
            "id": STR,
            "account": STR,
            "label": STR,
            "role": ROLE,
            "created_at": TIME,
            "expires_at": TIME,
            "last_used_at": TIME,
            "revoked": BOOL,
        }
    ),
    "TokenList": obj({"items": array(ref("Token"))}),
    "TokenCreate": obj({"label": STR}, {"account": STR, "role": ROLE, "expires_in": INT}),
    "TokenCreated": {"allOf": [ref("Token"), obj({"token": STR})]},
    "AuditEntry": obj(
        {
            "id": INT,
            "at": TIME,
            "actor": STR,
            "action": STR,
            "object": STR,
            "outcome": {"enum": ["ok", "denied", "failed"]},
            "detail": STR,
            "client": STR,
        }
    ),
    "AuditPage": obj({"items": array(ref("AuditEntry")), "next": CURSOR}),
}

__all__ = ["SCHEMAS", "Schema"]
