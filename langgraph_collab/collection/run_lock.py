"""One writer per run folder: an OS file lock held while a run writes there.

``collect`` (each shard folder) and the training CLI take a lock on a file in the folder
they write (``fcntl.flock``, non-blocking). The kernel releases it when the holder's file
is closed, whatever ended the process (a return, an exception, SIGKILL, a lost machine's
NFS client aside), so a killed run never leaves a stale lock: its requeue simply takes the
lock again. A second writer fails at once, before any model call, with a
:class:`RunLockedError` naming the folder and the holder's pid and host (written into the
lock file by the holder).

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with hold_run_lock(folder):
    ...     with hold_run_lock(folder):  # doctest: +ELLIPSIS
    ...         pass
    Traceback (most recent call last):
    ...
    langgraph_collab.collection.run_lock.RunLockedError: ... being written by another run ...
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

COLLECT_LOCK = ".collect.lock"
"""The lock file ``collect`` holds in the folder it writes (a shard's own folder)."""
PIPELINE_LOCK = ".pipeline.lock"
"""The lock file the training CLI holds in its run folder (a shard's collect folder)."""


class RunLockedError(RuntimeError):
    """Another live process writes the run folder; the message names it and the holder.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with hold_run_lock(folder, what="collect math"):
        ...     try:
        ...         with hold_run_lock(folder):
        ...             pass
        ...     except RunLockedError as error:
        ...         print("collect math" in str(error))
        True
    """


def _holder(lock: Path) -> str:
    try:
        info = json.loads(lock.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    pid, host = info.get("pid", "?"), info.get("host", "?")
    return f"pid {pid} on {host}" + (f", {info['what']}" if info.get("what") else "")


@contextlib.contextmanager
def hold_run_lock(
    folder: str | Path, *, name: str = COLLECT_LOCK, what: str = ""
) -> Iterator[None]:
    """Hold the writer's lock of ``folder`` (created if missing) for the ``with`` block.

    ``name`` is the lock file (one per kind of writer: a collection, the CLI pipeline);
    ``what`` says what the holder runs, for the message another writer gets.

    Raises:
        RunLockedError: another process (or another call in this one) holds it.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> with hold_run_lock(folder):
        ...     (folder / COLLECT_LOCK).exists()
        True
        >>> with hold_run_lock(folder):  # released at the end of the first block
        ...     pass
    """
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / name
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(
                f"{folder} is being written by another run ({_holder(lock)}): one writer per "
                "folder, or both would record every task twice. Wait for it to finish (or stop "
                "it), or give this run another folder; a killed run holds no lock, so its "
                "requeue starts at once"
            ) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "what": what}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


__all__ = ["COLLECT_LOCK", "PIPELINE_LOCK", "RunLockedError", "hold_run_lock"]
