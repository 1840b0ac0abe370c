"""Forward samples start in turn: each future runs its start-up, up to its first model
call, before the next one starts its own.

asyncio runs ready tasks first in, first out, and LangChain opens a task for most callback
events (each run's end, the ``gather`` around a model call), so a future goes to the back
of the queue several times on its way to a model call. K x S futures started at once
therefore each reach their first call only when all of them have done their start-up: the
calls go out together, come back together, and every turn of the fan-out then pays the
whole fan-out's CPU on its critical path. Started in turn, the first call goes out after
one future's start-up, the others follow one start-up apart, and their turns stay spread
out as in a pipeline (``benchmarks/mr_latency.py`` measures the effect).

Only start-up CPU waits: a future leaves the line when a model call begins (the config
:func:`in_turn` yields carries a handler that hears ``on_chat_model_start`` /
``on_llm_start``; the model's own I/O is never waited on in line) or when it ends,
whichever comes first. A model that is a plain function reports no start, so its future
holds the line to its end. The
line moves on at the loop's next round, so the task LangChain opens for that model call
runs before the next future's start-up. One line per event loop, shared by every MR
running on it (concurrent collection tasks take turns too). A callback handler of yours
that awaits I/O in ``on_chain_start`` would hold the line while it waits.

Example:
    >>> import asyncio
    >>> order = []
    >>> async def future(name):
    ...     async with in_turn({}) as config:  # config: the handler that leaves the line
    ...         order.append(f"{name} starts")
    ...         await asyncio.sleep(0)  # start-up yields to the loop: the others wait
    ...         leave_line()  # what the handler does when the first model call begins
    ...         order.append(f"{name} calls")
    >>> async def main():
    ...     await asyncio.gather(future("a"), future("b"))
    >>> asyncio.run(main())
    >>> order
    ['a starts', 'a calls', 'b starts', 'b calls']
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableConfig

from langgraph_collab.tracing import with_callback

_LINES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)
_LEAVING = threading.Lock()


class _Place:
    """A future's place at the head of its loop's line, held until :meth:`leave`."""

    __slots__ = ("lock", "loop")

    def __init__(self, lock: asyncio.Lock, loop: asyncio.AbstractEventLoop) -> None:
        self.lock: asyncio.Lock | None = lock
        self.loop = loop

    def leave(self) -> None:
        with _LEAVING:  # once, even if a role on another thread's loop leaves too
            lock, self.lock = self.lock, None
        if lock is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            # Next round of the loop: the model call about to begin gets its own next
            # step (a task LangChain opens for it) queued ahead of the next start-up.
            self.loop.call_soon(lock.release)
        else:  # left from a role running on another loop or thread
            self.loop.call_soon_threadsafe(lock.release)


_PLACE: ContextVar[_Place | None] = ContextVar("langgraph_collab_start_line", default=None)


class _LeaveAtModelCall(BaseCallbackHandler):
    """Leaves the line as a model call begins; deaf to chain runs, so it never makes a
    run "heard" (see :mod:`langgraph_collab._runtime.traced`)."""

    run_inline = True  # in the caller's context, which holds the place
    ignore_chain = ignore_retriever = ignore_agent = ignore_retry = True

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        leave_line()

    def on_llm_start(self, *args: Any, **kwargs: Any) -> None:
        leave_line()


_HANDLER = _LeaveAtModelCall()


@asynccontextmanager
async def in_turn(config: RunnableConfig | None = None) -> AsyncIterator[RunnableConfig]:
    """Wait for this loop's line, then hold its head until a model call run with the
    yielded config (``config`` plus the handler) begins, :func:`leave_line`, or the
    block's end."""
    config = with_callback(config, _HANDLER)
    loop = asyncio.get_running_loop()
    try:
        lock = _LINES.get(loop)
        if lock is None:
            lock = _LINES[loop] = asyncio.Lock()
    except TypeError:  # a loop that cannot be weakly referenced: no line
        yield config
        return
    await lock.acquire()
    place = _Place(lock, loop)
    token = _PLACE.set(place)
    try:
        yield config
    finally:
        _PLACE.reset(token)
        place.leave()


def leave_line() -> None:
    """The running future's start-up is over (its first model call begins): the next one
    may start. Does nothing outside :func:`in_turn` or once left."""
    place = _PLACE.get()
    if place is not None:
        place.leave()
