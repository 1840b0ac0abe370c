"""Long runs keep the process's start-up objects out of the garbage collector's full passes.

A full collection walks every object the process tracks, the imported libraries' too
(this library's, and torch's and transformers' when loaded). A long collection run
allocates enough long-lived objects (messages, run managers, checkpoints in flight) to
trigger full collections often, and almost all of each walk is over modules, classes and
loaded models that will never be garbage. ``benchmarks/mr_latency.py --freeze`` measures
the effect on MR latency.

``gc`` can only thaw every frozen object at once (``gc.unfreeze``), so a block freezes
only when nothing is frozen yet, and thaws only what it froze: never a freeze the process
made before (a server that froze its heap at start-up keeps it) nor one made while the
block ran (that freeze covers the block's objects too, and it is the process's to undo).

Example:
    >>> import gc
    >>> before = gc.get_freeze_count()
    >>> with frozen_heap():
    ...     gc.get_freeze_count() >= before
    True
    >>> gc.get_freeze_count() == before
    True
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0  # blocks running now, nested or in other threads
_marker: list | None = None  # made just after our freeze, while it stands


@contextmanager
def frozen_heap() -> Iterator[None]:
    """While the block runs, objects that exist when it starts are skipped by the garbage
    collector (``gc.freeze``); they are handed back when it ends (``gc.unfreeze``), so
    cycles among them that became garbage meanwhile are collected then. Objects created
    inside the block are collected as usual.

    The first of nested or concurrent blocks freezes, the last to end thaws. Nothing is
    frozen when the process had already frozen objects (CPython 3.12 itself starts with a
    few hundred) or turned the collector off, and nothing is thawed when the process froze
    objects while the blocks ran: a marker object made just after our freeze is then frozen
    too (``gc.get_objects()`` lists only the objects that are not)."""
    global _holders, _marker
    with _lock:
        if _holders == 0 and gc.isenabled() and gc.get_freeze_count() == 0:
            gc.freeze()
            _marker = []
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _marker is not None:
                if any(item is _marker for item in gc.get_objects()):
                    gc.unfreeze()
                _marker = None
