"""One engine per node name on a PostgreSQL store: a session advisory lock.

Several nodes share one database, each under its own ``engine.node`` name; two engines
started with the same name would both believe they own that node's claims, so the second
is refused. The lock lives as long as a dedicated connection (PostgreSQL drops it when
the session ends, so a crashed engine leaves no stale lock).
"""

from __future__ import annotations

import os
import socket
from typing import Any

import psycopg

from engine.errors import StoreError, StoreLocked


async def lock_node(dsn: str, node: str, timeout: float) -> psycopg.AsyncConnection[Any]:
    """Open a connection holding the session advisory lock of ``node``; the connection's
    ``application_name`` says who holds it, for the next engine's error message.

    Raises:
        StoreLocked: another engine holds the lock of this node name.
        StoreError: the database cannot be reached.
    """
    me = f"passerelle node {node} pid {os.getpid()} on {socket.gethostname()}"[:63]
    try:
        conn = await psycopg.AsyncConnection.connect(
            dsn, autocommit=True, application_name=me, connect_timeout=max(1, int(timeout))
        )
    except psycopg.Error as exc:
        raise StoreError(f"opening the PostgreSQL store: {exc}") from exc
    try:
        row = await (
            await conn.execute(
                "SELECT k, pg_try_advisory_lock(k) FROM (SELECT hashtextextended(%s, 0) AS k) x",
                (f"passerelle engine node\n{node}",),
            )
        ).fetchone()
        assert row is not None
        key, locked = row
        if locked:
            return conn
        holder = await (
            await conn.execute(
                "SELECT a.application_name, a.client_addr, a.backend_start FROM pg_locks l"
                " JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory'"
                " AND l.granted AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid"
                " AND l.objsubid = 1",
                ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
            )
        ).fetchone()
    except psycopg.Error as exc:
        await conn.close()
        raise StoreError(f"locking the PostgreSQL store for node {node}: {exc}") from exc
    await conn.close()
    who = "a session that has just ended"
    if holder is not None:
        name, address, since = holder
        who = (
            f"{name} from {address or 'a local socket'}, connected at {since:%Y-%m-%d %H:%M:%S %Z}"
        )
    raise StoreLocked(
        f"another engine runs as node '{node}' on this database: {who}. Give each node its"
        " own engine.node, or stop the other engine."
    )


__all__ = ["lock_node"]
