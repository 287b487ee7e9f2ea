"""The parent's queue served to worker processes over socket pairs (real sockets)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest

from engine.queue.base import QueueClosed, Task, TaskKind
from engine.queue.memory import InProcessQueue
from engine.queue.pipe import Dispatcher, PipeQueue


class Link:
    """One child's connection: the child's PipeQueue and the parent's serve() task."""

    def __init__(self, queue: PipeQueue, serve: asyncio.Task[None]) -> None:
        self.queue, self.serve = queue, serve

    async def close(self) -> None:
        await self.queue.close()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self.serve, 5)


class Parent:
    """A parent queue, its dispatcher, and the children linked to it (closed at the end)."""

    def __init__(self) -> None:
        self.queue = InProcessQueue()
        self.dispatcher = Dispatcher(self.queue, capacity=2)
        self.links: list[Link] = []

    async def link(self, name: str) -> Link:
        ours, theirs = socket.socketpair()
        p_reader, p_writer = await asyncio.open_connection(sock=ours)
        c_reader, c_writer = await asyncio.open_connection(sock=theirs)
        serve = asyncio.create_task(self.dispatcher.serve(name, p_reader, p_writer))
        child = PipeQueue(c_reader, c_writer)
        child.start()
        self.links.append(Link(child, serve))
        return self.links[-1]


@pytest.fixture
async def parent() -> AsyncIterator[Parent]:
    made = Parent()
    yield made
    for one in made.links:
        await one.close()
    await made.queue.close()


async def either(*links: Link, timeout: float = 5.0) -> Task:
    """The next task any of ``links`` receives (the other waits are cancelled)."""
    waits = [asyncio.create_task(one.queue.get()) for one in links]
    done, pending = await asyncio.wait(waits, timeout=timeout, return_when="FIRST_COMPLETED")
    for wait in pending:
        wait.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if not done:
        raise TimeoutError
    return done.pop().result()


def task(n: int) -> Task:
    return Task(TaskKind.PROCESS, f"M{n}")


async def get(q: PipeQueue) -> Task:
    return await asyncio.wait_for(q.get(), 5)


async def test_each_child_gets_at_most_capacity_tasks_in_flight(
    parent: Parent,
) -> None:
    queue = parent.queue
    child = await parent.link("a")
    for n in range(5):
        await queue.put(task(n))
    first = [await get(child.queue), await get(child.queue)]
    assert first == [task(0), task(1)]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(child.queue.get(), 0.3)  # capacity 2 reached
    child.queue.done(first[0])
    assert await get(child.queue) == task(2)
    assert parent.dispatcher.in_flight == 2


async def test_a_task_is_never_run_in_two_children_at_once(
    parent: Parent,
) -> None:
    queue = parent.queue
    a = await parent.link("a")
    await queue.put(task(1))
    assert await get(a.queue) == task(1)
    b = await parent.link("b")
    await queue.put(task(1))  # offered again while it runs in a (e.g. by the poller)
    await queue.put(task(2))
    assert await either(a, b) == task(2)  # other work goes on, task 1 waits
    with pytest.raises(TimeoutError):
        await either(a, b, timeout=0.3)
    a.queue.done(task(1))  # it ends in a: then it runs once more
    assert await either(a, b) == task(1)


async def test_a_dead_child_gives_its_tasks_back_and_puts_reach_the_parent(
    parent: Parent,
) -> None:
    queue = parent.queue
    a = await parent.link("a")
    await queue.put(task(1))
    assert await get(a.queue) == task(1)
    await a.queue.put(task(9), delay=0.0)  # a child queues new work in the parent
    await a.close()  # the child dies holding task 1
    b = await parent.link("b")
    assert {await get(b.queue), await get(b.queue)} == {task(1), task(9)}


async def test_the_child_learns_when_the_parent_is_gone(
    parent: Parent,
) -> None:
    child = await parent.link("a")
    await asyncio.sleep(0.05)  # serving
    child.serve.cancel()  # the parent's end closes, as when its process dies
    with contextlib.suppress(asyncio.CancelledError):
        await child.serve
    with pytest.raises(QueueClosed):
        await get(child.queue)
    assert child.queue.lost.is_set()
