"""The dramatiq queue on a real redis-server: ids round-trip, delays, Redis lost and back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.queue.base import Task, TaskKind
from engine.queue.dramatiq import DramatiqQueue
from tests.support.redis import RedisServer, running_redis

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from running_redis(tmp_path / "redis")


@pytest.fixture
async def queue(redis_server: RedisServer) -> AsyncIterator[DramatiqQueue]:
    q = DramatiqQueue(redis_server.url, prefetch=4, idle_ms=20)
    yield q
    await q.close()


async def take(q: DramatiqQueue, n: int, timeout: float = 15.0) -> list[Task]:
    out = []
    for _ in range(n):
        task = await asyncio.wait_for(q.get(), timeout)
        q.done(task)
        out.append(task)
    return out


async def test_tasks_go_through_redis_in_order_as_ids_only(
    queue: DramatiqQueue, redis_server: RedisServer
) -> None:
    tasks = [Task(TaskKind.PROCESS, f"M{i}") for i in range(20)] + [Task(TaskKind.DELIVER, "D1")]
    for task in tasks:
        await queue.put(task)
    assert await take(queue, len(tasks)) == tasks


async def test_a_second_process_queue_shares_the_work(redis_server: RedisServer) -> None:
    producer = DramatiqQueue(redis_server.url)
    consumer = DramatiqQueue(redis_server.url, idle_ms=20)
    try:
        for i in range(5):
            await producer.put(Task(TaskKind.PROCESS, f"M{i}"))
        got = await take(consumer, 5)
        assert {t.id for t in got} == {f"M{i}" for i in range(5)}
    finally:
        await producer.close()
        await consumer.close()


async def test_a_delayed_task_waits_for_its_time(queue: DramatiqQueue) -> None:
    await queue.put(Task(TaskKind.DELIVER, "LATER"), delay=0.3)
    await queue.put(Task(TaskKind.DELIVER, "NOW"))
    assert queue.depth()[1] == 1
    assert [t.id for t in await take(queue, 2)] == ["NOW", "LATER"]


async def test_redis_lost_and_back_the_queue_neither_raises_nor_stops(
    queue: DramatiqQueue, redis_server: RedisServer
) -> None:
    await queue.put(Task(TaskKind.PROCESS, "BEFORE"))
    assert [t.id for t in await take(queue, 1)] == ["BEFORE"]
    redis_server.kill()
    # a put while Redis is down is dropped (the store has the work), never raised
    await queue.put(Task(TaskKind.PROCESS, "LOST"))
    await asyncio.sleep(0.3)
    redis_server.start()
    await queue.put(Task(TaskKind.PROCESS, "AFTER"))
    # consuming resumes by itself once Redis answers again
    assert [t.id for t in await take(queue, 1)] == ["AFTER"]


async def test_a_task_still_waiting_is_not_enqueued_twice_within_the_window(
    redis_server: RedisServer,
) -> None:
    queue = DramatiqQueue(redis_server.url, idle_ms=20, dedupe_window=0.5)
    try:
        for _ in range(3):  # the poller offering the same waiting task round after round
            await queue.put(Task(TaskKind.PROCESS, "SAME"))
        assert [t.id for t in await take(queue, 1)] == ["SAME"]
        with pytest.raises(TimeoutError):
            await take(queue, 1, timeout=0.5)
        await queue.put(Task(TaskKind.PROCESS, "SAME"))  # taken since: queued again at once
        assert [t.id for t in await take(queue, 1)] == ["SAME"]
    finally:
        await queue.close()


async def test_past_the_window_a_task_is_enqueued_again(redis_server: RedisServer) -> None:
    producer = DramatiqQueue(redis_server.url, dedupe_window=0.3)  # enqueues, never takes
    consumer = DramatiqQueue(redis_server.url, idle_ms=20)
    try:
        await producer.put(Task(TaskKind.PROCESS, "LOST?"))
        await producer.put(Task(TaskKind.PROCESS, "LOST?"))  # within the window: skipped
        await asyncio.sleep(0.4)
        await producer.put(Task(TaskKind.PROCESS, "LOST?"))  # past it: what Redis lost
        assert [t.id for t in await take(consumer, 2)] == ["LOST?", "LOST?"]
        with pytest.raises(TimeoutError):
            await take(consumer, 1, timeout=0.5)
    finally:
        await producer.close()
        await consumer.close()
