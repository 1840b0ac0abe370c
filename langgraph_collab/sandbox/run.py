"""Run untrusted, model-written Python in confined child processes.

``run_untrusted`` runs a plain program. ``run_tests`` scores a solution on hidden
``unittest`` tests with a verdict the code cannot reach: the tests run in a trusted harness
interpreter that never loads the code, the solution in a sandboxed one, and they talk over
pipes carrying plain data only (``_harness_child.py``, ``_wire.py``); the caller then
cross-checks the harness's single report against the test methods it counts with ``ast``
(:mod:`~langgraph_collab.sandbox.verdict`). Neither function raises for anything the code
does.

Containment (:mod:`~langgraph_collab.sandbox._confine`): a wall clock that SIGKILLs each
child's session; RLIMIT_CPU/AS/FSIZE/NOFILE/NPROC, no core dumps; a private working
directory (also HOME and TMPDIR) removed afterwards; a scrubbed environment; output drained
in chunks and capped; the code's process is a subreaper that kills what the program leaves
behind. As root each child also gets an empty network namespace, a private mount view and
a fresh uid with NO_NEW_PRIVS and no capability; if that cannot be arranged nothing runs
(status "internal", with the reason). A prelude's audit hook refuses non-Unix sockets and
DNS, writes outside the working directory, signals to its parents, ``os.killpg`` and, where
RLIMIT_NPROC cannot apply, spawning beyond ``max_processes``: defence in depth only.
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
import dataclasses
import json
import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import partial
from importlib import resources
from typing import Any

from langgraph_collab.sandbox import _confine as confine
from langgraph_collab.sandbox._pump import Child, classify, pump, rlimits
from langgraph_collab.sandbox.verdict import bindings, count_test_methods, read_report

__all__ = ["Limits", "SandboxResult", "containment_info", "run_tests", "run_untrusted"]

_TEXT = {n: resources.files(__package__).joinpath(f"{n}.py").read_text("utf-8") for n in
         ("_wire", "_serve", "_sandbox_child", "_carry", "_remote", "_harness_child")}  # fmt: skip
_PRELUDE = _TEXT["_wire"] + _TEXT["_serve"] + _TEXT["_sandbox_child"]  # the code's process
_SINCE = time.time() - 1  # when this process began to run sandboxed code (at the latest)
_HARNESS = "".join(_TEXT[n] for n in ("_wire", "_carry", "_remote", "_harness_child"))


@dataclass(frozen=True)
class Limits:
    """What one sandboxed run may use. ``cpu_s`` defaults to ``timeout_s`` (the wall
    clock); ``max_processes`` counts threads too (RLIMIT_NPROC); ``max_output_bytes`` is
    the tail kept per stream, while more than ``max_total_output_bytes`` of output in all
    kills the run ("output_limit"); ``network`` leaves the network namespace shared;
    ``allow_weak_sandbox`` lets ``run_tests`` score where only weak containment applies
    (no root), which it otherwise refuses (status "internal").

    Example:
        >>> Limits(timeout_s=10).memory_mb
        300
    """

    timeout_s: float = 60.0
    cpu_s: float | None = None
    memory_mb: int = 300
    max_processes: int = 64
    max_output_bytes: int = 64_000
    max_total_output_bytes: int = 16_000_000
    max_file_bytes: int = 64_000_000
    network: bool = False
    allow_weak_sandbox: bool = dataclasses.field(
        default_factory=lambda: os.environ.get("LANGGRAPH_COLLAB_ALLOW_WEAK_SANDBOX") == "1"
    )


@dataclass(frozen=True)
class SandboxResult:
    """One sandboxed run. ``status`` is "ok" (the run completed; for ``run_tests``, with a
    report the caller believes), "error" (non-zero exit, exception, no or a void report),
    "timeout" (wall clock or CPU), "memory", "crash" (killed by a signal), "output_limit",
    or "internal" (the sandbox itself failed: nothing is known about the code);
    ``tests_*`` and ``passed`` (every test passed) are set by ``run_tests`` only."""

    status: str
    returncode: int | None
    stdout_tail: str
    stderr_tail: str
    duration_s: float
    tests_run: int = 0
    tests_passed: int = 0
    tests_failed: int = 0
    tests_errored: int = 0
    passed: bool = False
    truncated: bool = False  # more output than max_output_bytes was produced
    containment: str = ""  # what confined the run: containment_info()["containment"]

    @property
    def pass_rate(self) -> float:
        """Fraction of tests that passed, in [0, 1]; 0.0 unless the status is "ok"."""
        if self.status != "ok" or self.tests_run <= 0:
            return 0.0
        return min(1.0, max(0.0, self.tests_passed / self.tests_run))


_CAPS: confine.Caps | None = None
_CAPS_LOCK = threading.Lock()


def _capabilities() -> confine.Caps:
    global _CAPS
    with _CAPS_LOCK:
        if _CAPS is None:
            _CAPS = confine.probe()
        return _CAPS


def containment_info() -> dict[str, bool | str]:
    """Which containment mechanisms apply on this machine (probed once, then cached);
    ``error`` is non-empty when no code can run here at all.

    Example:
        >>> info = containment_info()
        >>> info["rlimit_nproc"] != info["audit_hook_process_budget"]
        True
    """
    caps = _capabilities()
    nproc = caps.drop or os.geteuid() != 0
    return {
        "containment": _containment(caps),
        "network_namespace": bool(caps.flags & confine.NEWNET),
        "user_namespace": bool(caps.flags & confine.NEWUSER),
        "mount_namespace": bool(caps.flags & confine.NEWNS),
        "dedicated_uid": caps.drop,
        "rlimit_nproc": nproc,
        "audit_hook_process_budget": not nproc,
        "error": caps.error,
    }


def _containment(caps: confine.Caps) -> str:
    """``strong: ...`` where the tests and the code run as two fresh uids in a private mount
    view (nothing of the caller's on disk, no module the code could plant for the tests),
    else ``weak: ...``, naming what applies."""
    parts = ["dedicated uids" if caps.drop else "shared uid"]
    parts.append("private mount view" if caps.flags & confine.NEWNS else "host files visible")
    parts.append("no network" if caps.flags & confine.NEWNET else "network reachable")
    level = "strong" if caps.drop and caps.flags & confine.NEWNS else "weak"
    return f"{level}: {', '.join(parts)}"


WEAK_HINT = (
    "the sandbox's containment here is weak (no root: the tests and the code share a uid, "
    "and the code can read the caller's files); run as root for the strong verdict, or opt "
    "in with Limits(allow_weak_sandbox=True) or LANGGRAPH_COLLAB_ALLOW_WEAK_SANDBOX=1"
)


def _execute(sources: dict[str, str], limits: Limits, files: dict[str, str] | None,
             ) -> SandboxResult:  # fmt: skip
    start, base, children, pipes, containment = time.monotonic(), "", [], [], ""
    timeout_s, cpu_s, network = limits.timeout_s, limits.cpu_s, limits.network
    max_processes, max_output_bytes = limits.max_processes, limits.max_output_bytes
    try:
        caps = _capabilities()
        if caps.error:
            raise RuntimeError(caps.error)
        containment = _containment(caps)
        if (
            "_sbx_tests.py" in sources
            and containment.startswith("weak")
            and (not limits.allow_weak_sandbox)
        ):
            raise RuntimeError(f"{WEAK_HINT} ({containment})")
        tests = sources.pop("_sbx_tests.py", None)
        expected = count_test_methods(tests) if tests is not None else 0
        uids = confine.pick_uids(3) if caps.drop else [None, None, None]
        if uids is None:
            raise RuntimeError("no free uid to run the sandbox as")
        share = uids[2] if tests is not None else None  # the tests' and the code's group
        base, work = confine.make_workdir(None if tests is not None else uids[1], share)
        for rel, text in {**(files or {}), **sources}.items():
            path = os.path.realpath(os.path.join(work, rel))
            if not path.startswith(work + os.sep):
                raise ValueError(f"file name escapes the sandbox: {rel!r}")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            if tests is None and uids[1] is not None:
                os.chown(path, uids[1], uids[1])
        cpu_limit = max(1, math.ceil(timeout_s if cpu_s is None else cpu_s))
        nproc = max_processes if caps.drop else 0
        if os.geteuid() != 0:  # NPROC counts all tasks of the uid: allow max_processes more
            nproc = max_processes + sum(r[4] for r in confine.procs() if r[1] == os.getuid())
        child_limits = rlimits(cpu_limit, limits.memory_mb << 20, limits.max_file_bytes, nproc)
        flags = caps.flags & ~confine.NEWNET if network else caps.flags
        plan = confine.mount_plan([work]) if flags & confine.NEWNS else None

        def spawn(script: str, uid: int | None, fds: tuple[int, ...], cfg: dict) -> Child:
            ids = None if uid is None else (uid, [] if share is None else [share])
            stage = os.path.join(base, f"stage-{len(children)}")
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", script, "sbx-child"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work,
                env=confine.child_env(work), start_new_session=True, pass_fds=fds,
                preexec_fn=partial(confine.preexec, flags, child_limits, ids, plan, stage,
                                   0o022 if tests is None else 0o002),
            )  # fmt: skip
            children.append(Child(proc, uid, reaps=script is _PRELUDE))
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.write(json.dumps(cfg).encode() + b"\n")
                proc.stdin.close()
            return children[-1]

        cfg = dict(work=work, mode="run", parent=os.getpid(), network=network)
        cfg["budget"] = 0 if nproc else max_processes
        extra = {}
        if tests is not None:
            pipes = [*os.pipe(), *os.pipe(), *os.pipe()]  # requests, replies, report
            remote, modules = bindings(sources["_sbx_solution.py"], tests)
            h = dict(requests=pipes[1], replies=pipes[2], report=pipes[5], tests=tests)
            h["start"] = _SINCE  # module files made since may be a sandboxed program's doing
            cfg["share"] = h["share"] = work if share is not None else None
            spawn(_HARNESS, uids[0], (pipes[1], pipes[2], pipes[5]), h | dict(remote=remote,
                  modules=modules))  # fmt: skip
            spawn(_PRELUDE, uids[1], (pipes[0], pipes[3]), cfg | dict(
                mode="serve", requests=pipes[0], replies=pipes[3]))  # fmt: skip
            for fd in (*pipes[:4], pipes[5]):
                os.close(fd)
            extra, pipes = {"report": pipes[4]}, [pipes[4]]
        else:
            spawn(_PRELUDE, uids[1], (), cfg)
        keep = max(max_output_bytes, 4096)
        bufs, reason, truncated = pump(
            children, extra, start + timeout_s, keep, limits.max_total_output_bytes
        )
        code = children[-1]
        out, err = (
            bufs[f"{k}{len(children) - 1}"].decode("utf-8", "replace") for k in ("out", "err")
        )
        status = reason or classify(code, cpu_limit, err)
        rc = None if code.status is None else os.waitstatus_to_exitcode(code.status)
        counts: tuple[int, ...] = ()
        if tests is not None:
            harness = children[0]
            h_err = bufs["err0"].decode("utf-8", "replace")
            err = f"{err}\n[tests]\n{h_err}" if err else h_err
            h_status = classify(harness, cpu_limit, h_err)
            h_rc = None if harness.status is None else os.waitstatus_to_exitcode(harness.status)
            verdict = read_report(bytes(bufs["report"]), h_rc, expected)
            status = status if status != "ok" else h_status if h_status != "ok" else "ok"
            if verdict.error:
                err += f"\n[sandbox] {verdict.error}\n"
                status = "error" if status == "ok" else status
            counts = (verdict.run, verdict.passed, verdict.failed, verdict.errored)
        n = max(max_output_bytes, 0)
        truncated = truncated or len(out) > n or len(err) > n
        passed = bool(counts) and status == "ok" and counts[0] > 0 and counts[1] == counts[0]
        tail = (out[-n:] if n else "", err[-n:] if n else "")
        dur = time.monotonic() - start
        return SandboxResult(status, rc, *tail, dur, *counts, passed=passed, truncated=truncated,
                             containment=containment)  # fmt: skip
    except Exception as exc:  # never raise into the caller: "internal" masks the sample
        msg = f"[sandbox] internal error: {type(exc).__name__}: {exc}"
        return SandboxResult("internal", None, "", msg, time.monotonic() - start,
                             containment=containment)  # fmt: skip
    finally:
        for c in children:
            with contextlib.suppress(Exception):
                confine.kill_all(c.proc.pid, [c.uid] if c.uid is not None else [])
                for stream in filter(None, (c.proc.stdin, c.proc.stdout, c.proc.stderr)):
                    stream.close()
        for fd in pipes:
            with contextlib.suppress(OSError):
                os.close(fd)
        if base:
            confine.rmtree(base)


def _limits(limits: Limits | None, overrides: dict[str, Any]) -> Limits:
    try:
        return dataclasses.replace(limits or Limits(), **overrides)
    except TypeError as exc:
        raise TypeError(f"unknown sandbox limit: {exc}") from None


def run_untrusted(
    code: str,
    limits: Limits | None = None,
    *,
    files: dict[str, str] | None = None,
    **overrides: Any,
) -> SandboxResult:
    """Run ``code`` as ``__main__`` in a sandboxed child interpreter; never raises for
    anything the code does. ``overrides`` replace fields of ``limits`` (``Limits()`` by
    default); ``files`` (relative path -> text) are written into the working directory first.

    Example:
        >>> run_untrusted("print(6 * 7)", timeout_s=10).stdout_tail
        '42\\n'
    """
    return _execute({"_sbx_main.py": code}, _limits(limits, overrides), files)


def run_tests(solution: str, test_code: str, limits: Limits | None = None,
              **overrides: Any) -> SandboxResult:  # fmt: skip
    """Score ``solution`` on the ``unittest.TestCase`` subclasses ``test_code`` defines,
    the tests in a trusted harness and the solution in the sandbox; never raises for
    anything the code does. ``limits`` (with ``overrides``) apply to both processes. The
    caller's ``ast`` count of test methods must match what ran.

    Example:
        >>> r = run_tests("x = 1", "import unittest\\nclass T(unittest.TestCase):\\n"
        ...     "    def test(self):\\n        self.assertEqual(x, 2)\\n", timeout_s=10)
        >>> (r.status, r.tests_run, r.tests_failed, r.passed, r.pass_rate)
        ('ok', 1, 1, False, 0.0)
    """
    sources = {"_sbx_solution.py": solution, "_sbx_tests.py": test_code}
    return _execute(sources, _limits(limits, overrides), None)
