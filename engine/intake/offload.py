"""Running costly, CPU-bound intake work off the event loop, abandonably.

:func:`run_off_loop` runs a function in a **daemon** thread and awaits its result, so that
the event loop keeps serving other connections (and signals) meanwhile. Cancelling the
await abandons the work: its result is dropped, and since the thread is a daemon it never
holds the process at exit -- a shutdown is not delayed by an examination nobody will
acknowledge. At most :data:`MAX_THREADS` such threads run at once per event loop; further
callers wait their turn (the GIL shares the CPU among them anyway).

Only pure functions belong here (no I/O, no shared mutable state): an abandoned thread
runs to its end unobserved.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

MAX_THREADS = 2
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _slots_of(loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(MAX_THREADS)
    return slots


async def run_off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a daemon thread; its exception is raised here.

    Raises:
        asyncio.CancelledError: the caller was cancelled (the thread's result is dropped).
    """
    loop = asyncio.get_running_loop()
    async with _slots_of(loop):
        future: asyncio.Future[T] = loop.create_future()

        def settle(result: T | None, error: BaseException | None) -> None:
            if future.done():  # cancelled meanwhile
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)  # type: ignore[arg-type]

        def work() -> None:
            try:
                result, error = fn(*args), None
            except BaseException as exc:  # handed to the awaiting task
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
                loop.call_soon_threadsafe(settle, result, error)

        threading.Thread(target=work, name=f"off-loop-{fn.__name__}", daemon=True).start()
        return await future


__all__ = ["MAX_THREADS", "run_off_loop"]
