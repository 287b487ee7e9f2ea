"""Console accounts, API tokens and sessions in the SQLite store (schema version 7).

Plain tables; only digests of secrets are stored (argon2 hashes made by the console,
SHA-256 of token secrets and session cookies). Write operations run in the group-commit
writer thread, reads on a reader connection.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from engine.errors import NotFound
from engine.store import _sqlite_schema as schema
from engine.store.console import Account, ApiToken, Session


def ts(value: datetime | None) -> float | None:
    return schema.ts(value) if value is not None else None


def dt(value: float | None) -> datetime | None:
    return schema.dt(float(value)) if value is not None else None


_ACCOUNT = "name, role, password_hash, establishments, disabled, source, created_at, updated_at"
_TOKEN = "id, account, token_hash, label, role, created_at, expires_at, last_used_at, revoked"
_SESSION = "id_hash, account, csrf_token, created_at, expires_at, source"


def _account(row: Sequence[Any]) -> Account:
    name, role, password_hash, establishments, disabled, source, created, updated = row
    return Account(
        name=str(name),
        role=str(role),
        password_hash=str(password_hash),
        establishments=tuple(str(e) for e in json.loads(str(establishments))),
        disabled=bool(disabled),
        source=str(source),
        created_at=dt(created),
        updated_at=dt(updated),
    )


def save_account(conn: sqlite3.Connection, a: Account) -> None:
    now = time.time()
    created = ts(a.created_at)
    if created is None:  # keep the first creation time of a replaced account
        row = conn.execute("SELECT created_at FROM accounts WHERE name=?", (a.name,)).fetchone()
        created = row[0] if row is not None and row[0] is not None else now
    conn.execute(
        f"INSERT OR REPLACE INTO accounts ({_ACCOUNT}) VALUES (?,?,?,?,?,?,?,?)",
        (
            a.name,
            a.role,
            a.password_hash,
            json.dumps(list(a.establishments)),
            int(a.disabled),
            a.source,
            created,
            ts(a.updated_at) or now,
        ),
    )


def get_account(conn: sqlite3.Connection, name: str) -> Account:
    row = conn.execute(f"SELECT {_ACCOUNT} FROM accounts WHERE name=?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"no account {name}")
    return _account(row)


def accounts(conn: sqlite3.Connection) -> list[Account]:
    return [_account(r) for r in conn.execute(f"SELECT {_ACCOUNT} FROM accounts ORDER BY name")]


def delete_account(conn: sqlite3.Connection, name: str) -> None:
    if conn.execute("DELETE FROM accounts WHERE name=?", (name,)).rowcount == 0:
        raise NotFound(f"no account {name}")
    conn.execute("DELETE FROM api_tokens WHERE account=?", (name,))
    conn.execute("DELETE FROM sessions WHERE account=?", (name,))


def _token(row: Sequence[Any]) -> ApiToken:
    id_, account, token_hash, label, role, created, expires, used, revoked = row
    return ApiToken(
        id=str(id_),
        account=str(account),
        token_hash=str(token_hash),
        label=str(label),
        role=str(role),
        created_at=schema.dt(float(created)),
        expires_at=dt(expires),
        last_used_at=dt(used),
        revoked=bool(revoked),
    )


def save_token(conn: sqlite3.Connection, t: ApiToken) -> None:
    conn.execute(
        f"INSERT OR REPLACE INTO api_tokens ({_TOKEN}) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            t.id,
            t.account,
            t.token_hash,
            t.label,
            t.role,
            schema.ts(t.created_at),
            ts(t.expires_at),
            ts(t.last_used_at),
            int(t.revoked),
        ),
    )


def token_by_hash(conn: sqlite3.Connection, token_hash: str) -> ApiToken | None:
    row = conn.execute(
        f"SELECT {_TOKEN} FROM api_tokens WHERE token_hash=?", (token_hash,)
    ).fetchone()
    return _token(row) if row is not None else None


def tokens(conn: sqlite3.Connection, account: str | None) -> list[ApiToken]:
    if account is None:
        rows = conn.execute(f"SELECT {_TOKEN} FROM api_tokens ORDER BY created_at, id")
    else:
        rows = conn.execute(
            f"SELECT {_TOKEN} FROM api_tokens WHERE account=? ORDER BY created_at, id",
            (account,),
        )
    return [_token(r) for r in rows]


def save_session(conn: sqlite3.Connection, s: Session) -> None:
    conn.execute(
        f"INSERT OR REPLACE INTO sessions ({_SESSION}) VALUES (?,?,?,?,?,?)",
        (
            s.id_hash,
            s.account,
            s.csrf_token,
            schema.ts(s.created_at),
            schema.ts(s.expires_at),
            s.source,
        ),
    )


def get_session(conn: sqlite3.Connection, id_hash: str) -> Session | None:
    row = conn.execute(
        f"SELECT {_SESSION} FROM sessions WHERE id_hash=? AND expires_at > ?",
        (id_hash, time.time()),
    ).fetchone()
    if row is None:
        return None
    id_, account, csrf, created, expires, source = row
    return Session(
        id_hash=str(id_),
        account=str(account),
        csrf_token=str(csrf),
        created_at=schema.dt(float(created)),
        expires_at=schema.dt(float(expires)),
        source=str(source),
    )


def delete_session(conn: sqlite3.Connection, id_hash: str) -> None:
    conn.execute("DELETE FROM sessions WHERE id_hash=?", (id_hash,))


def purge_sessions(conn: sqlite3.Connection, now: datetime) -> int:
    return conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (schema.ts(now),)).rowcount


__all__ = [
    "accounts",
    "delete_account",
    "delete_session",
    "dt",
    "get_account",
    "get_session",
    "purge_sessions",
    "save_account",
    "save_session",
    "save_token",
    "token_by_hash",
    "tokens",
    "ts",
]
