"""The ``http`` source over real sockets: 202 after the commit, problem+json otherwise."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from channels.http.config import HttpSourceConfig
from channels.http.source import HttpSource
from engine.app import Engine
from engine.errors import ChannelError
from engine.message import MessageState
from engine.pki import write_dev_pki
from engine.router import CompiledRoute, Router
from engine.store.sqlite import SqliteStore
from tests.channels.mllp.support import RecordingIntake
from tests.engine.formats.cda.builders import BILLION_LAUGHS, EXTERNAL_ENTITY, cda

Start = Callable[..., Awaitable[HttpSource]]
XML = {"Content-Type": "application/cda+xml"}


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    started: list[HttpSource] = []

    async def make(intake: Any, **config: Any) -> HttpSource:
        cfg = HttpSourceConfig.model_validate({"listen": "127.0.0.1:0", **config})
        source = HttpSource("http_in", cfg)
        await source.start(intake)
        started.append(source)
        return source

    yield make
    for source in started:
        await source.stop()


def url(source: HttpSource, path: str = "/documents", scheme: str = "http") -> str:
    host, port = source.address
    return f"{scheme}://{host}:{port}{path}"


async def test_a_document_is_committed_before_the_202(start: Start) -> None:
    intake = RecordingIntake()
    source = await start(intake)
    async with httpx.AsyncClient() as client:
        response = await client.post(url(source), content=cda(), headers=XML)
    assert response.status_code == 202
    (envelope,) = intake.accepted
    assert response.json() == {"id": envelope.id}
    assert response.headers["location"] == f"/messages/{envelope.id}"
    assert envelope.raw == cda() and envelope.metadata["cda.level"] == "3"
    assert envelope.metadata["peer"].startswith("127.0.0.1:")


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (BILLION_LAUGHS, 400, "attack"),
        (EXTERNAL_ENTITY, 400, "attack"),
        (b"<ClinicalDocument", 400, "malformed"),
        (b"<html/>", 400, "not-cda"),
    ],
    ids=["billion-laughs", "external-entity", "malformed", "not-cda"],
)
async def test_bad_documents_get_a_problem_and_are_recorded(
    start: Start, body: bytes, status: int, kind: str
) -> None:
    intake = RecordingIntake()
    source = await start(intake)
    async with httpx.AsyncClient() as client:
        bad = await client.post(url(source), content=body, headers=XML)
        good = await client.post(url(source), content=cda(), headers=XML)
    assert bad.status_code == status
    assert bad.headers["content-type"] == "application/problem+json"
    problem = bad.json()
    assert problem["type"] == f"urn:passerelle:problem:{kind}" and problem["status"] == status
    assert problem["detail"] and problem["title"]
    assert len(intake.rejected) == 1 and good.status_code == 202


async def test_size_media_type_path_and_method(start: Start) -> None:
    intake = RecordingIntake()
    source = await start(intake, max_size="4KiB")
    async with httpx.AsyncClient() as client:
        too_big = await client.post(url(source), content=b"x" * 5000, headers=XML)

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"x" * 1000

        streamed = await client.post(url(source), content=chunks(), headers=XML)
        media = await client.post(
            url(source), content=cda(), headers={"Content-Type": "text/plain"}
        )
        path = await client.post(url(source, "/other"), content=cda(), headers=XML)
        method = await client.get(url(source))
    assert (too_big.status_code, streamed.status_code) == (413, 413)
    assert too_big.json()["type"] == "urn:passerelle:problem:oversize"
    assert media.status_code == 415 and path.status_code == 404 and method.status_code == 405
    assert intake.accepted == [] and intake.rejected == []


async def test_store_failure_is_a_503_with_retry_after(start: Start) -> None:
    source = await start(RecordingIntake(fail_accept=True), retry_after="7s")
    async with httpx.AsyncClient() as client:
        response = await client.post(url(source), content=cda(), headers=XML)
    assert response.status_code == 503 and response.headers["retry-after"] == "7"
    assert response.json()["type"] == "urn:passerelle:problem:store"


async def test_mutual_tls(start: Start, tmp_path: Path) -> None:
    pki = write_dev_pki(tmp_path)
    tls = {
        "cert_file": str(pki.server_cert),
        "key_file": str(pki.server_key),
        "client_ca_file": str(pki.ca_cert),
    }
    intake = RecordingIntake()
    source = await start(intake, tls=tls)
    with_cert = ssl.create_default_context(cafile=pki.ca_cert)
    with_cert.load_cert_chain(pki.client_cert, pki.client_key)
    without = ssl.create_default_context(cafile=pki.ca_cert)
    target = url(source, scheme="https").replace("127.0.0.1", "localhost")
    async with httpx.AsyncClient(verify=with_cert) as client:
        assert (await client.post(target, content=cda(), headers=XML)).status_code == 202
    async with httpx.AsyncClient(verify=without) as client:
        with pytest.raises(httpx.HTTPError):
            await client.post(target, content=cda(), headers=XML)
    assert len(intake.accepted) == 1


async def test_address_in_use_is_a_channel_error(start: Start) -> None:
    first = await start(RecordingIntake())
    host, port = first.address
    with pytest.raises(ChannelError, match="cannot listen"):
        await start(RecordingIntake(), listen=f"{host}:{port}")


async def test_engine_commits_before_answering_and_other_posts_are_unaffected(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "store.db")
    source = HttpSource("http_in", HttpSourceConfig.model_validate({"listen": "127.0.0.1:0"}))
    engine = Engine(
        store=store,
        router=Router([CompiledRoute("drop_all", None, (), (), drop=True)]),
        sources=[source],
        shutdown_grace=0.5,
    )
    await engine.start()
    try:
        async with httpx.AsyncClient() as client:
            answers = await asyncio.gather(
                *(
                    client.post(url(source), content=body, headers=XML)
                    for body in (cda(), BILLION_LAUGHS, cda(doc_id="1.2.3.4"), b"<oops")
                )
            )
        assert [a.status_code for a in answers] == [202, 400, 202, 400]
        for answer in answers[::2]:
            stored = await store.get_message(answer.json()["id"])
            assert stored.envelope.raw in (cda(), cda(doc_id="1.2.3.4"))
        states = await store.count_by_state()
        assert states.get(MessageState.REJECTED) == 2
    finally:
        await engine.stop()
