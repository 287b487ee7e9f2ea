"""Store contract (console): accounts, API tokens, sessions, audit, controls, alert states,
leases and node heartbeats, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.errors import NotFound
from engine.store.base import Store
from engine.store.console import (
    Account,
    AlertState,
    ApiToken,
    AuditEntry,
    AuditQuery,
    Control,
    NodeStatus,
    Session,
)
from tests.engine.store.conftest import StoreFactory, reopened

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def token(id_: str, account: str, at: datetime, **kw: object) -> ApiToken:
    return ApiToken(
        id=id_, account=account, token_hash=f"h-{id_}", label=f"script {id_}", role="operator",
        created_at=at, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_accounts_are_created_replaced_listed_by_name_and_deleted(store: Store) -> None:
    # Given two accounts, one with establishments
    await store.save_account(Account("zoe", "viewer", "$argon2id$z", ("750000001",)))
    await store.save_account(Account("adam", "admin", "$argon2id$a"))
    # When one is replaced (same name)
    await store.save_account(
        Account("zoe", "operator", "$argon2id$z2", ("750000001", "920000002"), disabled=True)
    )
    # Then the listing is by name and shows the replacement
    listed = await store.accounts()
    assert [a.name for a in listed] == ["adam", "zoe"]
    zoe = await store.get_account("zoe")
    assert (zoe.role, zoe.password_hash, zoe.establishments, zoe.disabled, zoe.source) == (
        "operator", "$argon2id$z2", ("750000001", "920000002"), True, "local",
    )  # fmt: skip
    assert zoe.created_at is not None and zoe.updated_at is not None
    # When one is deleted, Then it is gone, and deleting it again is NotFound
    await store.delete_account("zoe")
    with pytest.raises(NotFound):
        await store.get_account("zoe")
    with pytest.raises(NotFound):
        await store.delete_account("zoe")
    assert [a.name for a in await store.accounts()] == ["adam"]


async def test_an_oidc_account_keeps_its_source_and_an_empty_hash(store: Store) -> None:
    await store.save_account(Account("jdoe", "viewer", source="oidc"))
    got = await store.get_account("jdoe")
    assert (got.source, got.password_hash, got.establishments) == ("oidc", "", ())


async def test_tokens_are_found_by_hash_listed_oldest_first_and_revocable(store: Store) -> None:
    await store.save_account(Account("ops", "operator", "h"))
    await store.save_account(Account("bob", "admin", "h"))
    await store.save_token(token("t2", "ops", T0 + timedelta(minutes=1)))
    await store.save_token(token("t1", "ops", T0, expires_at=T0 + timedelta(days=90)))
    await store.save_token(token("t3", "bob", T0 + timedelta(minutes=2)))
    # Then: by hash, per account oldest first, or all
    t1 = await store.token_by_hash("h-t1")
    assert t1 is not None and (t1.id, t1.account, t1.label, t1.role) == (
        "t1", "ops", "script t1", "operator",
    )  # fmt: skip
    assert t1.created_at == T0 and t1.expires_at == T0 + timedelta(days=90)
    assert not t1.revoked and t1.last_used_at is None
    assert await store.token_by_hash("h-unknown") is None
    assert [t.id for t in await store.tokens("ops")] == ["t1", "t2"]
    assert [t.id for t in await store.tokens()] == ["t1", "t2", "t3"]
    # When a token is revoked and used (replaced by id), Then the hash still finds it
    await store.save_token(token("t2", "ops", T0 + timedelta(minutes=1), revoked=True,
                                 last_used_at=T0 + timedelta(hours=1)))  # fmt: skip
    t2 = await store.token_by_hash("h-t2")
    assert t2 is not None and t2.revoked and t2.last_used_at == T0 + timedelta(hours=1)


async def test_deleting_an_account_removes_its_tokens_and_sessions(store: Store) -> None:
    now = datetime.now(UTC)
    await store.save_account(Account("ops", "operator", "h"))
    await store.save_account(Account("keep", "operator", "h"))
    await store.save_token(token("t1", "ops", now))
    await store.save_token(token("t2", "keep", now))
    await store.save_session(Session("s1", "ops", "csrf1", now, now + timedelta(hours=1)))
    await store.save_session(Session("s2", "keep", "csrf2", now, now + timedelta(hours=1)))
    await store.delete_account("ops")
    assert await store.token_by_hash("h-t1") is None
    assert await store.get_session("s1") is None
    assert [t.id for t in await store.tokens()] == ["t2"]
    assert await store.get_session("s2") is not None


async def test_sessions_expire_and_are_purged(store: Store) -> None:
    now = datetime.now(UTC)
    live = Session("live", "ops", "c1", now, now + timedelta(hours=8), source="oidc")
    old = Session("old", "ops", "c2", now - timedelta(hours=9), now - timedelta(hours=1))
    await store.save_session(live)
    await store.save_session(old)
    got = await store.get_session("live")
    assert got is not None
    assert (got.account, got.csrf_token, got.source) == ("ops", "c1", "oidc")
    assert got.expires_at == live.expires_at
    # an expired session is not returned, even before the purge
    assert await store.get_session("old") is None
    assert await store.get_session("never") is None
    assert await store.purge_sessions(now) == 1
    assert await store.purge_sessions(now) == 0
    await store.delete_session("live")
    assert await store.get_session("live") is None


async def test_audit_entries_get_increasing_ids_and_filter_newest_first(store: Store) -> None:
    ids = []
    for n, (actor, action) in enumerate(
        [("alice", "login"), ("bob", "replay"), ("alice", "payload.view"), ("alice", "replay")]
    ):
        entry = AuditEntry(T0 + timedelta(minutes=n), actor, action, f"M{n}", "ok",
                           detail="d", client="10.0.0.1")  # fmt: skip
        ids.append(await store.append_audit(entry))
    assert ids == sorted(ids) and len(set(ids)) == 4
    everything = await store.audit_entries(AuditQuery())
    assert [e.id for e in everything] == ids[::-1]
    first = everything[-1]
    assert (first.at, first.actor, first.action, first.object, first.outcome) == (
        T0, "alice", "login", "M0", "ok",
    )  # fmt: skip
    assert (first.detail, first.client) == ("d", "10.0.0.1")
    # filters combine (AND)
    alice = await store.audit_entries(AuditQuery(actor="alice"))
    assert [e.object for e in alice] == ["M3", "M2", "M0"]
    replays = await store.audit_entries(AuditQuery(actor="alice", action="replay"))
    assert [e.object for e in replays] == ["M3"]
    assert [e.object for e in await store.audit_entries(AuditQuery(object="M1"))] == ["M1"]
    window = AuditQuery(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    assert [e.object for e in await store.audit_entries(window)] == ["M2", "M1"]
    # keyset paging
    page1 = await store.audit_entries(AuditQuery(limit=3))
    page2 = await store.audit_entries(AuditQuery(limit=3, before_id=page1[-1].id))
    assert [e.object for e in page1 + page2] == ["M3", "M2", "M1", "M0"]


async def test_audit_entries_are_durable(store_factory: StoreFactory) -> None:
    store = store_factory()
    await store.open()
    entry_id = await store.append_audit(AuditEntry(T0, "cli:root", "config.reload", "routes",
                                                   "failed", detail="E_CONFIG"))  # fmt: skip
    await store.close()
    again = reopened(store)
    await again.open()
    try:
        (got,) = await again.audit_entries(AuditQuery())
        assert (got.id, got.outcome, got.detail) == (entry_id, "failed", "E_CONFIG")
    finally:
        await again.close()


async def test_controls_are_replaced_per_kind_and_name(store: Store) -> None:
    await store.set_control(Control("destination", "lab", True, "alice", T0, "maintenance"))
    await store.set_control(Control("channel", "mllp_in", True, "bob", T0))
    await store.set_control(Control("destination", "dmp", True, "bob", T0))
    await store.set_control(Control("destination", "lab", False, "bob", T0 + timedelta(hours=1)))
    got = await store.controls()
    assert [(c.kind, c.name, c.paused, c.by) for c in got] == [
        ("channel", "mllp_in", True, "bob"),
        ("destination", "dmp", True, "bob"),
        ("destination", "lab", False, "bob"),
    ]
    assert got[2].at == T0 + timedelta(hours=1) and got[2].reason == ""
    assert got[0].at == T0


async def test_alert_states_are_replaced_by_fingerprint(store: Store) -> None:
    firing = AlertState("backlog:lab", True, T0, T0 + timedelta(seconds=30), detail="backlog 51")
    await store.save_alert_state(firing)
    await store.save_alert_state(AlertState("dead:dmp", False, None, None))
    resolved = AlertState("backlog:lab", False, T0, T0 + timedelta(seconds=30),
                          resolved_at=T0 + timedelta(minutes=5))  # fmt: skip
    await store.save_alert_state(resolved)
    assert await store.alert_states() == [resolved, AlertState("dead:dmp", False, None, None)]


async def test_a_lease_has_one_owner_until_it_expires(store: Store) -> None:
    assert await store.acquire_lease("alerts", "node-a:1", 60)
    assert not await store.acquire_lease("alerts", "node-b:2", 60)
    assert await store.acquire_lease("alerts", "node-a:1", 60)  # renewed
    assert await store.acquire_lease("other", "node-b:2", 60)  # leases are per name
    # a lease that has run out may be taken by another owner
    assert await store.acquire_lease("short", "node-a:1", 0.0)
    assert await store.acquire_lease("short", "node-b:2", 60)
    assert not await store.acquire_lease("short", "node-a:1", 60)


async def test_node_heartbeats_are_replaced_per_node(store: Store) -> None:
    a = NodeStatus("node-a", 101, T0, T0 + timedelta(seconds=5), {"mllp_in": "listening"})
    b = NodeStatus("node-b", 202, T0, T0 + timedelta(seconds=5), {})
    await store.save_node_status(b)
    await store.save_node_status(a)
    a2 = NodeStatus("node-a", 101, T0, T0 + timedelta(seconds=10),
                    {"mllp_in": "stopped", "file_in": "failed"})  # fmt: skip
    await store.save_node_status(a2)
    got = await store.node_statuses()
    assert [n.node for n in got] == ["node-a", "node-b"]
    assert got[0] == a2 and dict(got[0].channels) == {"mllp_in": "stopped", "file_in": "failed"}
    assert got[1].pid == 202 and dict(got[1].channels) == {}
