"""Run untrusted, model-written Python in a resource-limited child process.

``run_tests`` scores a solution BigCodeBench-style: solution and hidden ``unittest`` tests run
in one module of a fresh ``python -I`` child and the counts come back on a nonce-tagged line;
``run_untrusted`` runs a plain program. Neither raises for anything the code does.

Containment: a wall clock that SIGKILLs the child's whole session; RLIMIT_CPU/AS/FSIZE/NOFILE/
NPROC, no core dumps; a private working directory (also HOME and TMPDIR) removed afterwards;
a scrubbed environment; output drained in chunks and capped; the child is a subreaper that
kills and reaps whatever the program leaves behind. As root the child also gets an empty
network namespace and a fresh unused uid with NO_NEW_PRIVS, so RLIMIT_NPROC applies, it cannot
signal the caller or write its files (world-writable places such as /tmp stay writable), and
every process of that uid is killed afterwards; if the interpreter is unreadable to other
uids it keeps CAP_DAC_READ_SEARCH and can then read, never write, any file. A normal user gets
a user+network namespace where allowed. A prelude's audit hook refuses non-Unix sockets and
DNS, writes and deletions outside the working directory, signals to its parents,
``os.killpg`` and, where RLIMIT_NPROC cannot apply, spawning beyond ``max_processes``: defence
in depth, not a security boundary (ctypes or exec'd binaries bypass it).
``containment_info()`` tells what applies on this machine.

Example:
    >>> tests = "import unittest\\nclass T(unittest.TestCase):\\n    def test(self):\\n" \\
    ...     "        self.assertEqual(inc(1), 2)\\n"
    >>> r = run_tests("def inc(x):\\n    return x + 1\\n", tests, timeout_s=10)
    >>> (r.status, r.tests_run, r.passed, r.pass_rate)
    ('ok', 1, True, 1.0)
"""

from __future__ import annotations

import contextlib
import ctypes
import inspect
import json
import math
import os
import pwd
import random
import resource
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import partial
from importlib import resources
from typing import Any

__all__ = ["SandboxResult", "containment_info", "run_tests", "run_untrusted"]

_NEWNET, _NEWUSER = 0x40000000, 0x10000000
_MEMORY_MARKERS = ("MemoryError", "bad_alloc", "allocate memory", "Memory allocation")
try:
    _LIBC: Any = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - then every probe fails and only rlimits apply
    _LIBC = None

# Runs first in the child (P): P forks the program's process, so the program's parent is
# never the caller, and reaps its leftovers; the program installs the audit hook and runs.
_PRELUDE = resources.files(__package__).joinpath("_sandbox_child.py").read_text("utf-8")


@dataclass(frozen=True)
class SandboxResult:
    """One sandboxed run. ``status`` is "ok", "error" (non-zero exit, exception), "timeout"
    (wall clock or CPU), "memory", "crash" (killed by a signal), "output_limit", or
    "internal" (the sandbox itself failed: nothing is known about the code);
    ``tests_*`` and ``passed`` are set by ``run_tests`` only."""

    status: str
    returncode: int | None
    stdout_tail: str
    stderr_tail: str
    duration_s: float
    tests_run: int = 0
    tests_failed: int = 0
    tests_errored: int = 0
    passed: bool = False
    truncated: bool = False  # more output than max_output_bytes was produced

    @property
    def pass_rate(self) -> float:
        """Fraction of tests that passed, in [0, 1]; 0.0 when nothing ran."""
        ok = self.tests_run - self.tests_failed - self.tests_errored
        return min(1.0, max(0.0, ok / self.tests_run)) if self.tests_run > 0 else 0.0


_CAPS: tuple[int, bool, bool] | None = None  # (namespace flags, dedicated uid, read cap)
_CAPS_LOCK = threading.Lock()


def _procs() -> list[tuple[int, int, int, str, int]]:
    """(pid, real uid, session id, state, threads) of every visible process."""
    rows = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, LookupError, ValueError):
            with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
                kv = {k: v.split()[0] for k, _, v in (ln.partition(":") for ln in f) if v.split()}
            sid, n = int(kv["NSsid"]), int(kv["Threads"])
            rows.append((int(pid), int(kv["Uid"]), sid, kv["State"], n))
    return rows


def _pick_uid() -> int | None:
    """A random uid in [2**30, 2**31) without a passwd entry or a running process."""
    used, rng = {row[1] for row in _procs()}, random.SystemRandom()
    for uid in (rng.randrange(1 << 30, 1 << 31) for _ in range(16)):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            if uid not in used:
                return uid
    return None


def _preexec(flags: int, limits: list[tuple[int, int, int]], uid: int | None, cap: bool) -> None:
    for res, soft, hard in limits:
        resource.setrlimit(res, (soft, hard))
    if flags and _LIBC.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "unshare failed")
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        if _LIBC.prctl(38, 1, 0, 0, 0) or (cap and _LIBC.prctl(8, 1, 0, 0, 0)):
            raise OSError(ctypes.get_errno(), "prctl(NO_NEW_PRIVS / KEEPCAPS) failed")
        os.setuid(uid)
        if cap:  # keep only CAP_DAC_READ_SEARCH, as an ambient capability
            hdr, data = (ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)(4, 4, 4)
            if _LIBC.capset(hdr, data) or _LIBC.prctl(47, 2, 2, 0, 0):
                raise OSError(ctypes.get_errno(), "capset failed")


def _env(work: str) -> dict[str, str]:
    path = os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"])
    env = dict(PATH=path, LANG="C.UTF-8", HOME=work, TMPDIR=os.path.join(work, "tmp"))
    env.update(USER="sandbox", LOGNAME="sandbox", PYTHONHASHSEED="0", MPLBACKEND="Agg")
    env.update(PYTHONDONTWRITEBYTECODE="1", MALLOC_ARENA_MAX="2", OMP_NUM_THREADS="1")
    return env | dict(OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")


def _probe(flags: int, drop: bool, cap: bool) -> bool:
    """Whether python starts with these namespace flags, uid drop and read capability."""
    uid, work = _pick_uid() if drop else None, tempfile.mkdtemp(prefix="sandbox-probe-")
    try:
        if uid is not None:
            os.chown(work, uid, uid)
        argv = [sys.executable, "-I", "-c", "import json, unittest; print('ok')"]
        fn = partial(_preexec, flags, [], uid, cap)
        r = subprocess.run(argv, cwd=work, env=_env(work), capture_output=True, preexec_fn=fn)
        return (uid is not None or not drop) and r.stdout == b"ok\n"
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _capabilities() -> tuple[int, bool, bool]:
    global _CAPS
    with _CAPS_LOCK:
        if _CAPS is None:
            root = os.geteuid() == 0
            ns = _NEWNET if root else _NEWUSER | _NEWNET
            drops = dict.fromkeys((root, False))
            tries = [(f, d, c) for d in drops for f in (ns, 0) for c in dict.fromkeys((False, d))]
            _CAPS = next((t for t in tries if _probe(*t)), (0, False, False))
        return _CAPS


def containment_info() -> dict[str, bool]:
    """Which containment mechanisms apply on this machine (probed once, then cached).

    Example:
        >>> info = containment_info()
        >>> info["rlimit_nproc"] != info["audit_hook_process_budget"]
        True
    """
    flags, drop, cap = _capabilities()
    nproc = drop or os.geteuid() != 0
    return {
        "network_namespace": bool(flags & _NEWNET),
        "user_namespace": bool(flags & _NEWUSER),
        "dedicated_uid": drop,
        "read_any_file_capability": cap,
        "rlimit_nproc": nproc,
        "audit_hook_process_budget": not nproc,
    }


def _kill_all(sid: int, uid: int | None, spare: int = 0) -> None:
    """SIGKILL the child's session and, with a dedicated uid, every process of that uid;
    ``spare`` (the child itself, which reaps its descendants) is left alive."""
    if not spare:
        with contextlib.suppress(OSError):
            os.killpg(sid, signal.SIGKILL)
    for _ in range(200):
        rows = [r for r in _procs() if r[0] not in (os.getpid(), spare) and r[3] not in "ZX"]
        victims = [r[0] for r in rows if r[2] == sid or (uid is not None and r[1] == uid)]
        if not victims:
            return
        for pid in victims:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def _rmtree(path: str) -> None:
    for root, dirs, _ in os.walk(path):  # a non-root owner may have made dirs unreadable
        for d in (os.path.join(root, d) for d in dirs):
            if not os.path.islink(d):
                with contextlib.suppress(OSError):
                    os.chmod(d, 0o700)
    shutil.rmtree(path, ignore_errors=True)


def _pump(
    proc: subprocess.Popen[bytes], deadline: float, keep: int, cap: int, uid: int | None
) -> tuple[list[bytearray], str | None, bool, int | None, float]:
    """Drain stdout/stderr keeping only tails; enforce the wall clock and the output cap."""
    sel, bufs = selectors.DefaultSelector(), [bytearray(), bytearray()]
    for i, stream in enumerate((proc.stdout, proc.stderr)):
        assert stream is not None
        os.set_blocking(stream.fileno(), False)
        sel.register(stream, selectors.EVENT_READ, bufs[i])
    total, truncated, reason, status, cpu, ended = 0, False, None, None, 0.0, 0.0
    while True:
        now = time.monotonic()
        if status is None and (waited := os.wait4(proc.pid, os.WNOHANG))[0]:
            status, cpu, ended = waited[1], waited[2].ru_utime + waited[2].ru_stime, now
            _kill_all(proc.pid, uid)  # leftovers would otherwise hold the pipes open
        if status is not None and (not sel.get_map() or now > ended + 1):
            break
        if reason is None and now >= deadline:
            reason, deadline = "timeout", now
            _kill_all(proc.pid, uid, spare=proc.pid)  # it reaps the rest, then exits
        if reason and status is None and now > deadline + 0.5:
            _kill_all(proc.pid, uid)
        if reason and status is None and now > deadline + 10:
            break  # unkillable (uninterruptible sleep): stop waiting
        if not sel.get_map():
            time.sleep(0.005)
        wait = 0.05 if reason else min(0.05, max(0.001, deadline - now))
        for key, _ in sel.select(wait) if sel.get_map() else []:
            with contextlib.suppress(BlockingIOError):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fileobj)
                key.data.extend(chunk)
                total += len(chunk)
                if len(key.data) > keep:
                    del key.data[: len(key.data) - keep]
                    truncated = True
                if total > cap and reason is None:
                    reason, deadline = "output_limit", now
                    _kill_all(proc.pid, uid, spare=proc.pid)
    sel.close()
    rc = None if status is None else os.waitstatus_to_exitcode(status)
    proc.returncode = rc
    return bufs, reason, truncated, rc, cpu


def _classify(reason: str | None, rc: int | None, cpu: float, cpu_limit: int, err: str) -> str:
    if reason:
        return reason
    if rc is None or rc == -signal.SIGXCPU or (rc == -signal.SIGKILL and cpu >= cpu_limit - 0.1):
        return "timeout"
    if rc != 0 and any(marker in err for marker in _MEMORY_MARKERS):
        return "memory"
    return "crash" if rc < 0 else "ok" if rc == 0 else "error"


def _rlimits(cpu: int, mem: int, fsize: int, nproc: int) -> list[tuple[int, int, int]]:
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


def _execute(mode: str, sources: dict[str, str], *, timeout_s: float, cpu_s: float | None,
             memory_mb: int, max_processes: int, max_output_bytes: int,
             max_total_output_bytes: int, max_file_bytes: int, network: bool,
             files: dict[str, str] | None) -> SandboxResult:  # fmt: skip
    start, work, proc, uid = time.monotonic(), "", None, None
    try:
        flags, drop, cap = _capabilities()
        uid = _pick_uid() if drop else None
        if drop and uid is None:
            raise RuntimeError("no free uid to run the sandbox as")
        work = os.path.realpath(tempfile.mkdtemp(prefix="sandbox-"))
        os.mkdir(os.path.join(work, "tmp"))
        for rel, text in {**(files or {}), **sources, "_sbx_prelude.py": _PRELUDE}.items():
            path = os.path.realpath(os.path.join(work, rel))
            if not path.startswith(work + os.sep):
                raise ValueError(f"file name escapes the sandbox: {rel!r}")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        for root, dirs, names in os.walk(work) if uid is not None else []:
            for p in [root, *(os.path.join(root, n) for n in dirs + names)]:
                os.chown(p, uid, uid, follow_symlinks=False)
        cpu_limit = max(1, math.ceil(timeout_s if cpu_s is None else cpu_s))
        nproc = max_processes if drop else 0
        if os.geteuid() != 0:  # NPROC counts all tasks of the uid: allow max_processes more
            nproc = max_processes + sum(r[4] for r in _procs() if r[1] == os.getuid())
        limits = _rlimits(cpu_limit, memory_mb << 20, max_file_bytes, nproc)
        nonce, parent = secrets.token_hex(16), os.getpid()
        cfg = dict(nonce=nonce, work=work, mode=mode, parent=parent, network=network)
        cfg["budget"] = 0 if nproc else max_processes
        proc = subprocess.Popen(
            [sys.executable, "-I", os.path.join(work, "_sbx_prelude.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=work, env=_env(work), start_new_session=True,
            preexec_fn=partial(_preexec, 0 if network else flags, limits, uid, cap),
        )  # fmt: skip
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(cfg).encode() + b"\n")
            proc.stdin.close()
        keep = max(max_output_bytes, 4096)  # room for the report line
        bufs, reason, truncated, rc, cpu = _pump(
            proc, start + timeout_s, keep, max_total_output_bytes, uid
        )
        out, err = (b.decode("utf-8", "replace") for b in bufs)
        lines, report = out.splitlines(keepends=True), None
        for line in lines:
            if line.startswith(nonce + " "):
                with contextlib.suppress(ValueError):
                    report = json.loads(line[len(nonce) + 1 :])
        out = "".join(line for line in lines if not line.startswith(nonce))
        out = out[:-1] if report is not None and out.endswith("\n") else out  # report's "\n"
        status, run, failed, errored = _classify(reason, rc, cpu, cpu_limit, err), 0, 0, 0
        if mode == "tests" and isinstance(report, dict):
            run = max(0, int(report.get("run", 0)))
            failed = min(run, max(0, int(report.get("failures", 0))))
            errored = min(run - failed, max(0, int(report.get("errors", 0))))
        elif mode == "tests":
            status = "error" if status == "ok" else status
            err += "\n[sandbox] no test report: the process ended before the tests finished\n"
        n = max(max_output_bytes, 0)
        truncated = truncated or len(out) > n or len(err) > n
        passed = mode == "tests" and status == "ok" and run > 0 and failed == errored == 0
        tail = (out[-n:] if n else "", err[-n:] if n else "")
        dur = time.monotonic() - start
        return SandboxResult(status, rc, *tail, dur, run, failed, errored, passed, truncated)
    except Exception as exc:  # never raise into the caller
        msg = f"[sandbox] internal error: {type(exc).__name__}: {exc}"
        return SandboxResult("internal", None, "", msg, time.monotonic() - start)
    finally:
        if proc is not None:
            with contextlib.suppress(Exception):
                _kill_all(proc.pid, uid)
                for stream in filter(None, (proc.stdin, proc.stdout, proc.stderr)):
                    stream.close()
        if work:
            _rmtree(work)


def run_untrusted(code: str, *, timeout_s: float = 60.0, cpu_s: float | None = None,
                  memory_mb: int = 300, max_processes: int = 64, max_output_bytes: int = 64_000,
                  max_total_output_bytes: int = 16_000_000, max_file_bytes: int = 64_000_000,
                  network: bool = False, files: dict[str, str] | None = None,
                  ) -> SandboxResult:  # fmt: skip
    """Run ``code`` as ``__main__`` in a sandboxed child interpreter; never raises.

    ``cpu_s`` defaults to ``timeout_s``; ``max_processes`` counts threads too (RLIMIT_NPROC);
    ``max_output_bytes`` is the tail kept per stream, while more than
    ``max_total_output_bytes`` of output in all kills the run ("output_limit");
    ``files`` (relative path -> text) are written into the working directory first.

    Example:
        >>> run_untrusted("print(6 * 7)", timeout_s=10).stdout_tail
        '42\\n'
    """
    kwargs = dict(locals())
    del kwargs["code"]
    return _execute("run", {"_sbx_main.py": code}, **kwargs)


def run_tests(solution: str, test_code: str, **limits: Any) -> SandboxResult:
    """Run ``solution`` then ``test_code`` in one module namespace, then the
    ``unittest.TestCase`` subclasses that the test code defines; never raises for anything
    the code does. ``limits`` are ``run_untrusted``'s keyword arguments.

    Example:
        >>> r = run_tests("x = 1", "import unittest\\nclass T(unittest.TestCase):\\n"
        ...     "    def test(self):\\n        self.assertEqual(x, 2)\\n", timeout_s=10)
        >>> (r.status, r.tests_run, r.tests_failed, r.passed)
        ('error', 1, 1, False)
    """
    bound = inspect.signature(run_untrusted).bind("", **limits)
    bound.apply_defaults()
    del bound.arguments["code"]
    sources = {"_sbx_solution.py": solution, "_sbx_tests.py": test_code}
    return _execute("tests", sources, **bound.arguments)
