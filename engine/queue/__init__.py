"""Work queues: they carry task ids only; the store holds everything else."""

from __future__ import annotations

from engine.queue.base import QueueClosed, Task, TaskKind, WorkQueue
from engine.queue.memory import InProcessQueue

__all__ = ["InProcessQueue", "QueueClosed", "Task", "TaskKind", "WorkQueue"]
