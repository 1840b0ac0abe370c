"""The caller's side of running sandboxed children: their rlimits, draining their output
under a wall clock and an output cap, and what their exit means.

Example:
    >>> import resource
    >>> rlimits(10, 1 << 30, 1 << 20, 0)[0][:2] == (resource.RLIMIT_CPU, 10)
    True
"""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass

from langgraph_collab.sandbox import _confine as confine

_MEMORY_MARKERS = ("MemoryError", "bad_alloc", "allocate memory", "Memory allocation")


@dataclass
class Child:
    proc: subprocess.Popen[bytes]
    uid: int | None
    reaps: bool  # it reaps its own descendants: spare it on timeout so it can
    status: int | None = None
    cpu: float = 0.0


def pump(children: list[Child], extra: dict[str, int], deadline: float, keep: int,
          cap: int) -> tuple[dict[str, bytearray], str | None, bool]:  # fmt: skip
    """Drain every child's stdout/stderr (keys ``out<i>``/``err<i>``) and ``extra`` pipes,
    keeping tails; enforce the wall clock and the output cap; reap every child."""
    sel, bufs = selectors.DefaultSelector(), {}
    streams = {f"{k}{i}": s for i, c in enumerate(children) for k, s in
               (("out", c.proc.stdout), ("err", c.proc.stderr))}  # fmt: skip
    for key, fd in [*((k, s.fileno()) for k, s in streams.items() if s), *extra.items()]:
        os.set_blocking(fd, False)
        bufs[key] = bytearray()
        sel.register(fd, selectors.EVENT_READ, key)
    total, truncated, reason, ended = 0, False, None, 0.0

    def kill(spare: bool) -> None:
        for c in children:
            if c.status is None:
                who = [c.uid] if c.uid is not None else []
                confine.kill_all(c.proc.pid, who, spare=c.proc.pid if spare and c.reaps else 0)

    while True:
        now = time.monotonic()
        for c in children:
            if c.status is None and (waited := os.wait4(c.proc.pid, os.WNOHANG))[0]:
                c.status, c.cpu = waited[1], waited[2].ru_utime + waited[2].ru_stime
                confine.kill_all(c.proc.pid, [c.uid] if c.uid is not None else [])
                ended = now
        if all(c.status is not None for c in children):
            if not sel.get_map() or now > ended + 1:
                break
        elif children[0].status is not None and reason is None:
            deadline = min(deadline, ended + 2)  # the harness is done: the code has 2 s
        if reason is None and now >= deadline:
            reason, deadline = "timeout", now
            kill(spare=True)
        if reason and now > deadline + 0.5:
            kill(spare=False)
        if reason and now > deadline + 10:
            break  # unkillable (uninterruptible sleep): stop waiting
        if not sel.get_map():
            time.sleep(0.005)
        wait = 0.05 if reason else min(0.05, max(0.001, deadline - now))
        for key, _ in sel.select(wait) if sel.get_map() else []:
            with contextlib.suppress(BlockingIOError):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fd)
                buf = bufs[key.data]
                buf.extend(chunk)
                total += len(chunk)
                if len(buf) > keep:
                    del buf[: len(buf) - keep]
                    truncated = True
                if total > cap and reason is None:
                    reason, deadline = "output_limit", now
                    kill(spare=True)
    sel.close()
    return bufs, reason, truncated


def classify(c: Child, cpu_limit: int, err: str) -> str:
    rc = None if c.status is None else os.waitstatus_to_exitcode(c.status)
    if rc is None or rc == -signal.SIGXCPU or (rc == -signal.SIGKILL and c.cpu >= cpu_limit - 0.1):
        return "timeout"
    if rc != 0 and any(marker in err for marker in _MEMORY_MARKERS):
        return "memory"
    return "crash" if rc < 0 else "ok" if rc == 0 else "error"


def rlimits(cpu: int, mem: int, fsize: int, nproc: int) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) for the child, never above the caller's own hard limits."""
    r = resource
    want = [(r.RLIMIT_CPU, cpu, cpu + 1), (r.RLIMIT_AS, mem, mem), (r.RLIMIT_FSIZE, fsize, fsize)]
    want += [(r.RLIMIT_CORE, 0, 0), (r.RLIMIT_NOFILE, 1024, 1024), (r.RLIMIT_NPROC, nproc, nproc)]
    limits = []
    for res, soft, hard in want[: 6 if nproc else 5]:
        cur = r.getrlimit(res)[1]
        hard = hard if cur == r.RLIM_INFINITY else min(hard, cur)
        limits.append((res, min(soft, hard), hard))
    return limits
