"""The one way the library runs a coroutine from sync code.

``asyncio.run`` fails inside a running event loop (Jupyter, ``langgraph dev``, an async
test): there the coroutine runs on a fresh loop in a helper thread, with the caller's
context variables (LangSmith run trees, LangGraph config) copied over.

Example:
    >>> async def two():
    ...     return 2
    >>> run_sync(two())
    2
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion and return its result, from any sync caller."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False  # asyncio.run outside this block: its errors carry no context
    else:
        running = True
    if not running:
        return asyncio.run(coroutine)
    context = contextvars.copy_context()
    with ThreadPoolExecutor(1, thread_name_prefix="langgraph-collab-sync") as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()
