"""Every route of the admin API, checked from its own declaration (the route table):
unauthenticated -> 401, a weaker role -> 403, another establishment's object -> 404,
a cookie without its CSRF token on a state-changing request -> 403; and the OpenAPI
document lists exactly the routes served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.console.api import UNKNOWN, route_table
from engine.console.api.routing import ApiRoute
from engine.console.api.tenancy import role_rank
from engine.message import DeliveryState, Envelope, MessageState
from engine.store.base import RoutingOutcome, Store
from engine.store.console import AuditQuery
from tests.support.console import (
    EST_A,
    EST_B,
    PASSWORD,
    Console,
    adt,
    running_console,
    seed_message,
)

ROLES = ("viewer", "operator", "admin")
PROTECTED = [r for r in route_table() if r.role is not None]
STATE_CHANGING = [r for r in PROTECTED if r.method not in ("GET", "HEAD")]


@dataclass
class World:
    console: Console
    paths: dict[str, str]
    """Placeholder -> an object of establishment A."""
    token_id: str


@pytest.fixture
async def world(tmp_path: Path, store: Store) -> AsyncIterator[World]:
    async with running_console(tmp_path, store) as console:
        msg_a, delivery_a = await seed_message(
            store, "chan_a", "A1", destination="dest_a", outcome=DeliveryState.DEAD
        )
        await seed_message(store, "chan_b", "B1", route="rb", destination="dest_b")
        for role in ROLES:
            await console.add_user(f"{role}_a", role, [EST_A])
            await console.add_user(f"{role}_b", role, [EST_B])
        await console.add_user("target_a", "viewer", [EST_A])
        await console.token("target_a", "viewer")
        token_id = (await store.tokens("target_a"))[0].id
        assert delivery_a is not None
        paths = {"id": msg_a, "delivery_id": delivery_a}
        yield World(console, paths, token_id)


def concrete(route: ApiRoute, world: World) -> str:
    """The route's path with its placeholders naming establishment A's objects."""
    path = route.path
    if path.startswith("/api/v1/tokens/"):
        return path.replace("{id}", world.token_id)
    if path.startswith("/api/v1/destinations/"):
        return path.replace("{name}", "dest_a")
    if path.startswith("/api/v1/channels/"):
        return path.replace("{name}", "chan_a")
    if path.startswith("/api/v1/accounts/"):
        return path.replace("{name}", "target_a")
    for key, value in world.paths.items():
        path = path.replace("{" + key + "}", value)
    assert "{" not in path, path
    return path


BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/accounts"): {
        "name": "newcomer", "role": "viewer", "password": PASSWORD, "establishments": [EST_A],
    },
    ("PATCH", "/api/v1/accounts/{name}"): {"disabled": False},
    ("POST", "/api/v1/tokens"): {"label": "probe", "account": "target_a"},
}  # fmt: skip


def body(route: ApiRoute) -> dict[str, Any] | None:
    if route.method in ("GET", "DELETE"):
        return None
    return BODIES.get((route.method, route.path), {})


def weaker(role: str) -> str:
    return ROLES[role_rank(role) - 1]


async def test_every_protected_route_refuses_anonymous_callers(world: World) -> None:
    async with world.console.client() as client:
        for route in PROTECTED:
            answer = await client.request(route.method, concrete(route, world), json=body(route))
            assert answer.status_code == 401, (route.method, route.path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            # a forged cookie or token is anonymous too
            forged = await client.request(
                route.method, concrete(route, world), json=body(route),
                headers={"Authorization": "Bearer pas_forged"},
            )  # fmt: skip
            assert forged.status_code == 401, (route.method, route.path)


async def test_every_route_refuses_a_weaker_role_by_session_and_by_token(world: World) -> None:
    for route in PROTECTED:
        if route.role == "viewer":
            continue
        role = weaker(route.role or "viewer")
        async with world.console.session(f"{role}_a") as client:
            answer = await client.request(route.method, concrete(route, world), json=body(route))
            assert answer.status_code == 403, (route.method, route.path, role, answer.text)
        secret = await world.console.token(f"{role}_a", role)
        headers = {"Authorization": f"Bearer {secret}"}
        async with world.console.client(headers=headers) as client:
            answer = await client.request(route.method, concrete(route, world), json=body(route))
            assert answer.status_code == 403, (route.method, route.path, role, "token")


def _has_object(route: ApiRoute) -> bool:
    return "{" in route.path


async def test_every_route_on_an_object_of_another_establishment_is_404(world: World) -> None:
    checked = 0
    for route in PROTECTED:
        if not _has_object(route):
            continue
        async with world.console.session(f"{route.role}_b") as client:
            answer = await client.request(route.method, concrete(route, world), json=body(route))
        assert answer.status_code == 404, (route.method, route.path, answer.text)
        assert answer.json()["status"] == 404
        checked += 1
    assert checked >= 12


async def test_list_routes_show_nothing_of_another_establishment(world: World) -> None:
    console = world.console
    # establishment A acts, so the audit trail has entries of its users
    async with console.session("operator_a") as client:
        await client.post("/api/v1/destinations/dest_a/pause")
    async with console.session("admin_b") as client:
        overview = (await client.get("/api/v1/overview")).json()
        assert [c["name"] for c in overview["channels"]] == ["chan_b"]
        assert [d["name"] for d in overview["destinations"]] == ["dest_b"]
        messages = (await client.get("/api/v1/messages", params={"limit": 200})).json()
        assert {m["channel"] for m in messages["items"]} == {"chan_b"}
        activity = (await client.get("/api/v1/activity")).json()
        assert {s["name"] for s in activity["series"]} <= {"chan_b", "dest_b"}
        accounts = (await client.get("/api/v1/accounts")).json()
        assert {a["name"] for a in accounts["items"]} == {f"{r}_b" for r in ROLES}
        tokens = (await client.get("/api/v1/tokens")).json()
        assert tokens["items"] == []
        audit = (await client.get("/api/v1/audit")).json()
        assert audit["items"] and {e["actor"] for e in audit["items"]} <= {f"{r}_b" for r in ROLES}
        export = await client.get("/api/v1/audit/export")
        assert "operator_a" not in export.text and "admin_b" in export.text
    async with console.session("operator_b") as client:
        own = (await client.get("/api/v1/audit", params={"actor": "operator_a"})).json()
        assert {e["actor"] for e in own["items"]} == {"operator_b"}


async def test_every_state_changing_route_needs_the_csrf_token_with_a_cookie(
    world: World,
) -> None:
    for route in STATE_CHANGING:
        async with world.console.session(f"{route.role}_a") as client:
            for token in (None, "wrong-token"):
                if token is None:
                    del client.headers["X-CSRF-Token"]
                else:
                    client.headers["X-CSRF-Token"] = token
                answer = await client.request(
                    route.method, concrete(route, world), json=body(route)
                )
                assert answer.status_code == 403, (route.method, route.path, token)
                assert "X-CSRF-Token" in answer.json()["detail"]


async def test_the_openapi_document_lists_exactly_the_served_routes(world: World) -> None:
    async with world.console.client() as client:
        answer = await client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    doc = answer.json()
    assert doc["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    declared = {(r.method, r.path) for r in route_table()}
    assert documented == declared
    served = {
        (method, route.path)
        for route in world.console.server._server.config.app.routes  # type: ignore[union-attr]
        if route.path.startswith("/api/") and route.path != UNKNOWN
        for method in route.methods - {"HEAD"}
    }
    assert served == declared
    for path, ops in doc["paths"].items():
        for op in ops.values():
            for answer_ in op["responses"].values():
                for media in answer_.get("content", {}).values():
                    ref = media["schema"].get("$ref", "")
                    if ref:
                        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], path


async def test_an_unknown_api_path_is_a_problem_document(world: World) -> None:
    async with world.console.client() as client:
        answer = await client.get("/api/v1/nothing/here")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


async def test_a_refused_audited_act_is_audited_as_denied(world: World) -> None:
    store = world.console.store
    audited = [r for r in PROTECTED if r.audit]
    assert {r.audit for r in audited} >= {"payload.view", "replay", "release", "config.reload"}
    for route in audited:
        if route.role == "viewer":
            continue
        role = weaker(route.role or "viewer")
        async with world.console.session(f"{role}_a") as client:
            answer = await client.request(route.method, concrete(route, world), json=body(route))
        assert answer.status_code == 403
        entries = await store.audit_entries(AuditQuery(action=route.audit, actor=f"{role}_a"))
        assert entries and entries[0].outcome == "denied", (route.method, route.path)
        assert entries[0].detail == f"role {role}"


async def test_a_restricted_operator_replays_only_to_its_own_destinations(world: World) -> None:
    store = world.console.store
    # a message of A's channel delivered (dead) to A's and B's destinations
    envelope = Envelope.new(channel="chan_a", raw=adt("X1"), content_type="application/hl7-v2")
    await store.accept(envelope)
    await store.start_processing(envelope.id)
    outcome = RoutingOutcome(MessageState.ROUTED, "test", [("dest_a", "ra"), ("dest_b", "rb")])
    for delivery in await store.finish_routing(envelope.id, outcome):
        await store.record_attempt(delivery.id, DeliveryState.DEAD, "refused")
    path = f"/api/v1/messages/{envelope.id}/replay"
    async with world.console.session("operator_a") as client:
        whole = await client.post(path, json={})
        assert whole.status_code == 403 and "outside your establishments" in whole.text
        assert (await client.post(path, json={"destination": "dest_b"})).status_code == 404
        mine = await client.post(path, json={"destination": "dest_a"})
        assert mine.json()["replayed"] is True
