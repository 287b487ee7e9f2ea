"""Audit trail, operator controls, alert states, leases and node heartbeats (SQLite).

The ``audit`` table is append-only: triggers abort any UPDATE or DELETE of its rows, so
not even a bug in the engine can rewrite history. Write operations run in the
group-commit writer thread, reads on a reader connection.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from engine.store import _sqlite_schema as schema
from engine.store._sqlite_accounts import dt, ts
from engine.store.console import AlertState, AuditEntry, AuditQuery, Control, NodeStatus

_AUDIT = "id, at, actor, action, object, outcome, detail, client"


def append_audit(conn: sqlite3.Connection, e: AuditEntry) -> int:
    cursor = conn.execute(
        "INSERT INTO audit (at, actor, action, object, outcome, detail, client)"
        " VALUES (?,?,?,?,?,?,?)",
        (schema.ts(e.at), e.actor, e.action, e.object, e.outcome, e.detail, e.client),
    )
    return int(cursor.lastrowid or 0)


def _entry(row: Sequence[Any]) -> AuditEntry:
    id_, at, actor, action, object_, outcome, detail, client = row
    return AuditEntry(
        id=int(id_),
        at=schema.dt(float(at)),
        actor=str(actor),
        action=str(action),
        object=str(object_),
        outcome=str(outcome),
        detail=str(detail),
        client=str(client),
    )


def audit_entries(conn: sqlite3.Connection, q: AuditQuery) -> list[AuditEntry]:
    clauses: list[str] = []
    args: list[object] = []
    for column, value in (("actor", q.actor), ("action", q.action), ("object", q.object)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if q.since is not None:
        clauses.append("at >= ?")
        args.append(schema.ts(q.since))
    if q.until is not None:
        clauses.append("at < ?")
        args.append(schema.ts(q.until))
    if q.before_id is not None:
        clauses.append("id < ?")
        args.append(q.before_id)
    where = "WHERE " + " AND ".join(clauses) if clauses else ""
    limit = -1 if q.limit is None else q.limit
    rows = conn.execute(
        f"SELECT {_AUDIT} FROM audit {where} ORDER BY id DESC LIMIT ?", (*args, limit)
    )
    return [_entry(r) for r in rows]


def set_control(conn: sqlite3.Connection, c: Control) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO controls (kind, name, paused, by, at, reason) VALUES (?,?,?,?,?,?)",
        (c.kind, c.name, int(c.paused), c.by, schema.ts(c.at), c.reason),
    )


def controls(conn: sqlite3.Connection) -> list[Control]:
    rows = conn.execute(
        "SELECT kind, name, paused, by, at, reason FROM controls ORDER BY kind, name"
    )
    return [
        Control(str(k), str(n), bool(p), str(b), schema.dt(float(a)), str(r))
        for k, n, p, b, a, r in rows
    ]


def save_alert_state(conn: sqlite3.Connection, s: AlertState) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO alert_states (fingerprint, firing, since, notified_at,"
        " resolved_at, detail) VALUES (?,?,?,?,?,?)",
        (s.fingerprint, int(s.firing), ts(s.since), ts(s.notified_at), ts(s.resolved_at),
         s.detail),
    )  # fmt: skip


def alert_states(conn: sqlite3.Connection) -> list[AlertState]:
    rows = conn.execute(
        "SELECT fingerprint, firing, since, notified_at, resolved_at, detail FROM alert_states"
        " ORDER BY fingerprint"
    )
    return [
        AlertState(str(f), bool(firing), dt(since), dt(notified), dt(resolved), str(detail))
        for f, firing, since, notified, resolved, detail in rows
    ]


def acquire_lease(conn: sqlite3.Connection, name: str, owner: str, seconds: float) -> bool:
    now = time.time()
    row = conn.execute("SELECT owner, until FROM leases WHERE name=?", (name,)).fetchone()
    if row is not None and row[0] != owner and float(row[1]) > now:
        return False
    conn.execute(
        "INSERT OR REPLACE INTO leases (name, owner, until) VALUES (?,?,?)",
        (name, owner, now + seconds),
    )
    return True


def save_node_status(conn: sqlite3.Connection, s: NodeStatus) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO node_statuses (node, pid, started_at, heartbeat_at, channels)"
        " VALUES (?,?,?,?,?)",
        (s.node, s.pid, schema.ts(s.started_at), schema.ts(s.heartbeat_at),
         json.dumps(dict(s.channels), sort_keys=True)),
    )  # fmt: skip


def node_statuses(conn: sqlite3.Connection) -> list[NodeStatus]:
    rows = conn.execute(
        "SELECT node, pid, started_at, heartbeat_at, channels FROM node_statuses ORDER BY node"
    )
    return [
        NodeStatus(
            node=str(node),
            pid=int(pid),
            started_at=schema.dt(float(started)),
            heartbeat_at=schema.dt(float(beat)),
            channels={str(k): str(v) for k, v in json.loads(str(channels)).items()},
        )
        for node, pid, started, beat, channels in rows
    ]


__all__ = [
    "acquire_lease",
    "alert_states",
    "append_audit",
    "audit_entries",
    "controls",
    "node_statuses",
    "save_alert_state",
    "save_node_status",
    "set_control",
]
