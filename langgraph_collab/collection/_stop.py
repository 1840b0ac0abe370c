"""A long run stopped by SIGINT (Ctrl-C) or SIGTERM (a scheduler's preemption, ``kill``):
one line on stderr saying what was kept and how to resume, then ``KeyboardInterrupt``
(SIGINT) or ``SystemExit(143)`` (SIGTERM), never a traceback from the event loop.

:func:`stop_line` wraps the coroutine of a run in the main thread: each signal cancels
it (its ``finally`` blocks close files and the checkpointer as usual), then the line is
printed and the exception raised, its ``reported`` attribute the line, so that a CLI
above prints no second one. Elsewhere (a helper thread) it does nothing: signals reach
the main thread.

Example:
    >>> async def run():
    ...     async with stop_line(lambda name: f"stopped by {name}"):
    ...         return 1
    >>> import asyncio; asyncio.run(run())
    1
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

from langgraph_collab._runtime.sync import run_sync

T = TypeVar("T")

SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
"""The shell's convention: 128 + the signal's number."""


def stopped(signum: int, line: str) -> BaseException:
    """The exception a run stopped by ``signum`` raises after printing ``line``: a
    ``KeyboardInterrupt`` for SIGINT, a ``SystemExit`` with status 143 for SIGTERM."""
    error: BaseException = (  # the line is printed already: not repeated in a traceback
        KeyboardInterrupt() if signum == signal.SIGINT else SystemExit(EXIT_STATUS[signum])
    )
    error.reported = line  # type: ignore[attr-defined]
    return error


@contextlib.asynccontextmanager
async def stop_line(kept: Callable[[str], str]) -> AsyncIterator[None]:
    """Turn SIGINT / SIGTERM during the block into one line, ``kept(signal_name)``, on
    stderr and :func:`stopped`'s exception (see the module docstring)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if threading.current_thread() is not threading.main_thread() or task is None:
        yield
        return
    got: list[int] = []
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}

    def stop(signum: int) -> None:
        if not got:
            got.append(signum)
            task.cancel()

    for signum in SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        yield
    except asyncio.CancelledError:
        if not got:
            raise
        line = kept(signal.Signals(got[0]).name)
        print(line, file=sys.stderr, flush=True)
        raise stopped(got[0], line) from None
    finally:
        for signum in SIGNALS:
            loop.remove_signal_handler(signum)
            signal.signal(signum, previous[signum])


def run_stoppable(coroutine: Coroutine[Any, Any, T]) -> T:
    """:func:`~langgraph_collab._runtime.sync.run_sync`, where a stop that :func:`stop_line`
    reported is raised afresh from here: its traceback is the caller's, not the loop's."""
    try:
        return run_sync(coroutine)
    except (KeyboardInterrupt, SystemExit) as error:
        line = getattr(error, "reported", None)
        if line is None:
            raise
        fresh = type(error)(*error.args)
        fresh.reported = line  # type: ignore[attr-defined]
    raise fresh


__all__ = ["EXIT_STATUS", "run_stoppable", "stop_line", "stopped"]
