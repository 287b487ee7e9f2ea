"""The queue interface: tasks are (kind, id) pairs, never payloads.

Losing the queue loses nothing: the engine rebuilds it from ``Store.unfinished()`` at
start-up. A backend may therefore deliver a task more than once; handlers are idempotent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum


class QueueClosed(Exception):
    """Raised by :meth:`WorkQueue.get` when the queue can hand out no more tasks (its
    other end is gone); the workers taking from it stop."""


class TaskKind(StrEnum):
    PROCESS = "process"  # parse, route: the id is a message id
    DELIVER = "deliver"  # send to one destination: the id is a delivery id


@dataclass(frozen=True, slots=True)
class Task:
    kind: TaskKind
    id: str


class WorkQueue(ABC):
    """A queue of tasks shared by the workers of one engine (or many, for remote backends)."""

    @abstractmethod
    async def put(self, task: Task, delay: float = 0.0) -> None:
        """Enqueue ``task``, runnable after ``delay`` seconds. A task already waiting is
        not queued twice."""

    @abstractmethod
    async def get(self) -> Task:
        """Wait for the next runnable task. Raises asyncio.CancelledError when closed."""

    @abstractmethod
    def done(self, task: Task) -> None:
        """Mark a task taken by :meth:`get` as finished (successfully or not)."""

    @abstractmethod
    async def close(self) -> None:
        """Drop waiting and delayed tasks (they are still in the store). Idempotent."""

    @abstractmethod
    def depth(self) -> tuple[int, int]:
        """(runnable tasks, delayed tasks), for metrics."""
