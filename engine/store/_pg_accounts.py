"""Console accounts, API tokens, sessions and the audit trail in PostgreSQL.

The audit table is append-only (triggers refuse UPDATE, DELETE and TRUNCATE). Appends
from several nodes take a transaction-scoped advisory lock before drawing their id, so
ids grow in commit order: a reader paging with ``before_id`` never misses an entry that
commits later with a smaller id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from engine.errors import NotFound
from engine.message import utcnow
from engine.store._pg_ops import Conn
from engine.store.console import Account, ApiToken, AuditEntry, AuditQuery, Session

AUDIT_LOCK = 0x70A55E120
_ACCOUNT = "name, role, password_hash, establishments, disabled, source, created_at, updated_at"
_TOKEN = "id, account, token_hash, label, role, created_at, expires_at, last_used_at, revoked"
_SESSION = "id_hash, account, csrf_token, created_at, expires_at, source"
_AUDIT = "id, at, actor, action, object, outcome, detail, client"


async def _all(conn: Conn, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await (await conn.execute(sql, args)).fetchall()]


def _account(row: Sequence[Any]) -> Account:
    name, role, password_hash, establishments, disabled, source, created, updated = row
    return Account(
        name, role, password_hash, tuple(establishments), disabled, source, created, updated
    )


async def save_account(conn: Conn, a: Account) -> None:
    now = utcnow()
    await conn.execute(
        f"INSERT INTO accounts ({_ACCOUNT}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
        " ON CONFLICT (name) DO UPDATE SET role = excluded.role,"
        " password_hash = excluded.password_hash, establishments = excluded.establishments,"
        " disabled = excluded.disabled, source = excluded.source,"
        " created_at = coalesce(accounts.created_at, excluded.created_at),"
        " updated_at = excluded.updated_at",
        (
            a.name, a.role, a.password_hash, list(a.establishments), a.disabled, a.source,
            a.created_at or now, a.updated_at or now,
        ),
    )  # fmt: skip


async def get_account(conn: Conn, name: str) -> Account:
    found = await _all(conn, f"SELECT {_ACCOUNT} FROM accounts WHERE name = %s", (name,))
    if not found:
        raise NotFound(f"no account {name}")
    return _account(found[0])


async def accounts(conn: Conn) -> list[Account]:
    return [_account(r) for r in await _all(conn, f"SELECT {_ACCOUNT} FROM accounts ORDER BY name")]


async def delete_account(conn: Conn, name: str) -> None:
    cursor = await conn.execute("DELETE FROM accounts WHERE name = %s", (name,))
    if cursor.rowcount == 0:
        raise NotFound(f"no account {name}")
    await conn.execute("DELETE FROM api_tokens WHERE account = %s", (name,))
    await conn.execute("DELETE FROM sessions WHERE account = %s", (name,))


async def save_token(conn: Conn, t: ApiToken) -> None:
    await conn.execute(
        f"INSERT INTO api_tokens ({_TOKEN}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)"
        " ON CONFLICT (id) DO UPDATE SET account = excluded.account,"
        " token_hash = excluded.token_hash, label = excluded.label, role = excluded.role,"
        " created_at = excluded.created_at, expires_at = excluded.expires_at,"
        " last_used_at = excluded.last_used_at, revoked = excluded.revoked",
        (t.id, t.account, t.token_hash, t.label, t.role, t.created_at, t.expires_at,
         t.last_used_at, t.revoked),
    )  # fmt: skip


async def token_by_hash(conn: Conn, token_hash: str) -> ApiToken | None:
    found = await _all(
        conn, f"SELECT {_TOKEN} FROM api_tokens WHERE token_hash = %s", (token_hash,)
    )
    return ApiToken(*found[0]) if found else None


async def tokens(conn: Conn, account: str | None) -> list[ApiToken]:
    where, args = ("WHERE account = %s", (account,)) if account is not None else ("", ())
    found = await _all(
        conn, f"SELECT {_TOKEN} FROM api_tokens {where} ORDER BY created_at, id", args
    )
    return [ApiToken(*r) for r in found]


async def save_session(conn: Conn, s: Session) -> None:
    await conn.execute(
        f"INSERT INTO sessions ({_SESSION}) VALUES (%s,%s,%s,%s,%s,%s)"
        " ON CONFLICT (id_hash) DO UPDATE SET account = excluded.account,"
        " csrf_token = excluded.csrf_token, created_at = excluded.created_at,"
        " expires_at = excluded.expires_at, source = excluded.source",
        (s.id_hash, s.account, s.csrf_token, s.created_at, s.expires_at, s.source),
    )


async def get_session(conn: Conn, id_hash: str) -> Session | None:
    found = await _all(
        conn,
        f"SELECT {_SESSION} FROM sessions WHERE id_hash = %s AND expires_at > %s",
        (id_hash, utcnow()),
    )
    return Session(*found[0]) if found else None


async def delete_session(conn: Conn, id_hash: str) -> None:
    await conn.execute("DELETE FROM sessions WHERE id_hash = %s", (id_hash,))


async def purge_sessions(conn: Conn, now: datetime) -> int:
    cursor = await conn.execute("DELETE FROM sessions WHERE expires_at <= %s", (now,))
    return cursor.rowcount


async def append_audit(conn: Conn, e: AuditEntry) -> int:
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
    found = await _all(
        conn,
        "INSERT INTO audit (at, actor, action, object, outcome, detail, client)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s) RETURNING id",
        (e.at, e.actor, e.action, e.object, e.outcome, e.detail, e.client),
    )
    return int(found[0][0])


async def audit_entries(conn: Conn, q: AuditQuery) -> list[AuditEntry]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (("actor", q.actor), ("action", q.action), ("object", q.object)):
        if value is not None:
            clauses.append(f"{column} = %s")
            args.append(value)
    if q.since is not None:
        clauses.append("at >= %s")
        args.append(q.since)
    if q.until is not None:
        clauses.append("at < %s")
        args.append(q.until)
    if q.before_id is not None:
        clauses.append("id < %s")
        args.append(q.before_id)
    where = "WHERE " + " AND ".join(clauses) if clauses else ""
    found = await _all(
        conn, f"SELECT {_AUDIT} FROM audit {where} ORDER BY id DESC LIMIT %s", [*args, q.limit]
    )
    return [
        AuditEntry(at=at, actor=actor, action=action, object=obj, outcome=outcome,
                   detail=detail, client=client, id=id_)
        for id_, at, actor, action, obj, outcome, detail, client in found
    ]  # fmt: skip


__all__ = [
    "AUDIT_LOCK",
    "accounts",
    "append_audit",
    "audit_entries",
    "delete_account",
    "delete_session",
    "get_account",
    "get_session",
    "purge_sessions",
    "save_account",
    "save_session",
    "save_token",
    "token_by_hash",
    "tokens",
]
