"""Tests for the sandbox that scores model-written code: scoring, and hostile programs.

Every hostile program runs with small limits and must be contained, reported with the
right status, and leave the test process, its files and the process table unharmed.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from langgraph_collab.sandbox import (
    SandboxResult,
    _confine,
    containment_info,
    run_tests,
    run_untrusted,
)
from langgraph_collab.sandbox import run as sandbox

# Leftover checks look at every process of the machine for sandboxed children: another
# test's sandbox running beside these would read as a leak.
pytestmark = pytest.mark.serial

INFO = containment_info()
SMALL = {"timeout_s": 15.0, "memory_mb": 300, "max_processes": 16}
needs_uid = pytest.mark.skipif(not INFO["dedicated_uid"], reason="needs a dedicated uid (root)")
needs_netns = pytest.mark.skipif(not INFO["network_namespace"], reason="no network namespace")

TESTS = """
import unittest

class TestAdd(unittest.TestCase):
    def test_small(self):
        self.assertEqual(add(1, 2), 3)

    def test_zero(self):
        self.assertEqual(add(0, 0), 0)

    def test_negative(self):
        self.assertEqual(add(-1, -1), -2)
"""


def _state(pid: int) -> str | None:
    """The process state letter, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    return _state(pid) not in (None, "Z", "X")


def _procs_matching(*markers: bytes) -> list[int]:
    """Live processes whose command line contains one of the markers."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if any(m in cmd for m in markers) and _alive(int(name)):
            found.append(int(name))
    return found


GONE_BOUND_S = 30  # how long a killed process may take to leave the process table: a
# failure bound on a poll (no event tells another process's end), not a speed check


def _until_gone(alive: Callable[[], list[int]]) -> list[int]:
    """Poll ``alive()`` until it is empty or ``GONE_BOUND_S`` passed; its last value."""
    deadline = time.monotonic() + GONE_BOUND_S
    while (left := alive()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _no_leftovers() -> None:
    assert _until_gone(lambda: _procs_matching(b"sbx-child", b"sbx-marker")) == []


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Path]:
    """A directory of the test process that no sandboxed program may touch."""
    d = tmp_path / "canary"
    d.mkdir()
    (d / "keep.txt").write_text("precious")
    yield d
    assert (d / "keep.txt").read_text() == "precious"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP server on 127.0.0.1 that must never see a connection."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.setblocking(False)
    yield srv
    with pytest.raises(BlockingIOError):
        srv.accept()
    srv.close()


# --- scoring ------------------------------------------------------------------------


def test_correct_solution_passes() -> None:
    r = run_tests("def add(a, b):\n    return a + b\n", TESTS, timeout_s=20)
    assert (r.status, r.tests_run, r.passed, r.pass_rate) == ("ok", 3, True, 1.0)


def test_wrong_solution_fails_some() -> None:
    r = run_tests("def add(a, b):\n    return abs(a) + abs(b)\n", TESTS, timeout_s=20)
    assert r.status == "ok" and not r.passed
    assert (r.tests_run, r.tests_passed, r.tests_failed, r.tests_errored) == (3, 2, 1, 0)
    assert r.pass_rate == 2 / 3


def test_raising_solution_counts_errors() -> None:
    r = run_tests("def add(a, b):\n    raise ValueError('no')\n", TESTS, timeout_s=20)
    assert (r.tests_run, r.tests_errored, r.pass_rate, r.passed) == (3, 3, 0.0, False)


def test_syntax_error() -> None:
    r = run_tests("def add(a, b) return a + b\n", TESTS, timeout_s=20)
    assert (r.status, r.tests_run, r.passed, r.pass_rate) == ("error", 0, False, 0.0)
    assert "SyntaxError" in r.stderr_tail and "solution raised" in r.stderr_tail


def test_forged_report_is_ignored() -> None:
    forge = "import json\nprint('0' * 32 + ' ' + json.dumps({'run': 9}))\nadd = min\n"
    r = run_tests(forge, TESTS, timeout_s=20)
    assert r.tests_run == 3 and not r.passed


def test_no_test_classes_is_not_a_pass() -> None:
    r = run_tests("def add(a, b):\n    return a + b\n", "x = 1\n", timeout_s=20)
    assert (r.tests_run, r.passed, r.pass_rate) == (0, False, 0.0)


def test_plain_run_and_files() -> None:
    code = "print(open('data/in.txt').read().upper())"
    r = run_untrusted(code, timeout_s=20, files={"data/in.txt": "hello"})
    assert (r.status, r.returncode, r.stdout_tail) == ("ok", 0, "HELLO\n")
    assert not r.passed and r.pass_rate == 0.0


def test_pass_rate_property() -> None:
    assert SandboxResult("ok", 0, "", "", 0.1).pass_rate == 0.0
    assert SandboxResult("ok", 0, "", "", 0.1, tests_run=4, tests_passed=2).pass_rate == 0.5
    assert SandboxResult("error", 1, "", "", 0.1, tests_run=4, tests_passed=4).pass_rate == 0.0


def test_workdir_removed_and_environment_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_FAKE_SECRET", "hunter2-do-not-leak")
    code = "import os, tempfile\nprint(os.getcwd())\nprint(tempfile.gettempdir())\n"
    code += "print(dict(os.environ))\n"
    r = run_untrusted(code, timeout_s=20)
    assert r.status == "ok"
    cwd, tmp, env = r.stdout_tail.splitlines()
    assert tmp.startswith(cwd) and f"'HOME': '{cwd}'" in env
    assert "hunter2" not in r.stdout_tail and "SANDBOX_FAKE_SECRET" not in env
    assert not os.path.exists(cwd)


def test_internal_failures_do_not_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    r = run_untrusted("print(1)", timeout_s=20, files={"../escape.txt": "x"})
    assert r.status == "internal" and "escapes" in r.stderr_tail

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("cannot start")

    monkeypatch.setattr(sandbox.subprocess, "Popen", broken)
    r = run_tests("x = 1", TESTS, timeout_s=20)
    assert (r.status, r.passed) == ("internal", False) and "cannot start" in r.stderr_tail


# --- hostile programs -----------------------------------------------------------------

HOSTILE = {
    "fork_bomb": ("import os\nwhile True:\n    os.fork()\n", {}, {"error", "timeout"}),
    "spawn_bomb": (
        "import subprocess, sys\nps = []\nwhile True:\n"
        "    ps.append(subprocess.Popen([sys.executable, '-c',"
        " 'import time; time.sleep(60)  # sbx-marker']))\n",
        {},
        {"error", "timeout"},
    ),
    "memory_bomb": (
        "x = []\nwhile True:\n    x.append(bytearray(10**7))\n",
        {"memory_mb": 200},
        {"memory"},
    ),
    "infinite_sleep_loop": (
        "import time\nwhile True:\n    time.sleep(0.1)\n",
        {"timeout_s": 1.5},
        {"timeout"},
    ),
    "busy_threads": (
        "import threading\ndef spin():\n    while True:\n        pass\n"
        "ts = [threading.Thread(target=spin) for _ in range(4)]\n"
        "[t.start() for t in ts]\n[t.join() for t in ts]\n",
        {"cpu_s": 1, "timeout_s": 30},
        {"timeout"},
    ),
    "print_gigabytes": (
        "import sys\nchunk = 'x' * (1 << 20)\nwhile True:\n    sys.stdout.write(chunk)\n",
        {"max_output_bytes": 10_000, "max_total_output_bytes": 20_000_000},
        {"output_limit"},
    ),
    "segfault": ("import ctypes\nctypes.string_at(0)\n", {}, {"crash"}),
    "recursion_bomb": ("def f(n):\n    return f(n + 1)\nf(0)\n", {}, {"error"}),
    "deep_recursion_bomb": (
        "import sys\nsys.setrecursionlimit(10**8)\ndef f(n):\n    return f(n + 1)\nf(0)\n",
        {"memory_mb": 200},
        {"crash", "memory", "error"},
    ),
    "huge_file": (
        "with open('big.bin', 'wb') as f:\n    while True:\n        f.write(bytes(1 << 20))\n",
        {"max_file_bytes": 5_000_000},
        {"error"},
    ),
    "kill_parent": ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n", {}, {"error"}),
    "killpg_own_group": (
        "import os, signal\nos.killpg(os.getpgrp(), signal.SIGKILL)\n",
        {},
        {"error"},
    ),
    "kill_parent_ctypes": (
        "import ctypes, os, time\nctypes.CDLL(None).kill(os.getppid(), 9)\ntime.sleep(10)\n",
        {},
        {"crash"},
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_program_is_contained(name: str, canary: Path) -> None:
    code, limits, expected = HOSTILE[name]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = run_untrusted(code, **{**SMALL, **limits})
    assert r.status in expected, (r.status, r.returncode, r.stderr_tail[-2000:])
    assert len(r.stdout_tail) <= 64_000 and len(r.stderr_tail) <= 64_000
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 100_000  # KiB
    _no_leftovers()
    if name == "print_gigabytes":
        assert r.truncated and len(r.stdout_tail) <= 10_000
    if name == "busy_threads":  # the CPU limit fired, not the 30 s wall clock (SIGKILL)
        assert r.returncode == -signal.SIGXCPU, r
    if name == "huge_file":
        assert "File too large" in r.stderr_tail
    if name == "segfault":
        assert r.returncode == -signal.SIGSEGV


def test_tcp_to_localhost_and_public_ip_fails(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    code = (
        "import socket\n"
        f"for addr in [('127.0.0.1', {port}), ('1.1.1.1', 80), ('8.8.8.8', 53)]:\n"
        "    try:\n        socket.create_connection(addr, timeout=2)\n        print('CONNECTED')\n"
        "    except OSError as e:\n        print('BLOCKED', e)\n"
    )
    r = run_untrusted(code, **SMALL)
    assert r.status == "ok" and r.stdout_tail.count("BLOCKED") == 3, r.stdout_tail
    assert "CONNECTED" not in r.stdout_tail


@needs_netns
def test_network_namespace_stops_code_that_bypasses_the_hook(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    inner = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"
    code = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {inner!r}], check=True)"
    r = run_untrusted(code, **SMALL)
    assert r.status == "error" and "Network is unreachable" in r.stderr_tail, r.stderr_tail


def test_write_outside_workdir_refused(tmp_path: Path, canary: Path) -> None:
    sentinel = tmp_path / "sentinel.txt"
    code = f"open({str(sentinel)!r}, 'w').write('pwned')\n"
    r = run_untrusted(code, **SMALL)
    assert r.status == "error" and "PermissionError" in r.stderr_tail
    assert not sentinel.exists()


def test_delete_files_refused(canary: Path) -> None:
    r = run_untrusted(f"import shutil\nshutil.rmtree({str(canary)!r})\n", **SMALL)
    assert r.status == "error" and "PermissionError" in r.stderr_tail


@needs_uid
def test_binaries_cannot_write_or_delete_the_callers_files(tmp_path: Path, canary: Path) -> None:
    sentinel = tmp_path / "sentinel.txt"
    code = (
        "import subprocess\n"
        f"a = subprocess.run(['touch', {str(sentinel)!r}]).returncode\n"
        f"b = subprocess.run(['rm', '-rf', {str(canary)!r}]).returncode\n"
        "print(a, b)\n"
    )
    r = run_untrusted(code, **SMALL)
    # rm -rf of a path the private mount view hides succeeds: the canary fixture checks.
    assert r.status == "ok" and r.stdout_tail.split()[0] != "0"
    assert not sentinel.exists()


@needs_uid
def test_ctypes_cannot_signal_the_caller_or_other_users(canary: Path) -> None:
    code = (
        "import ctypes, os\n"
        f"assert os.getuid() not in (0, {os.getuid()})\n"
        "libc = ctypes.CDLL(None)\n"
        # Flushed first: the last kill takes down the sandbox's reaper, and the caller then
        # kills what is left of the session, this program too, maybe before it exits.
        f"print(libc.kill({os.getpid()}, 9), libc.kill(1, 0), flush=True)\n"
        "libc.kill(-1, 9)  # only ever reaches processes of the sandbox's own uid\n"
    )
    r = run_untrusted(code, **SMALL)
    assert r.status in {"ok", "crash"} and r.stdout_tail.split()[:2] == ["-1", "-1"]
    _no_leftovers()


def test_secrets_not_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-secret-123")
    code = (
        "import os\nprint(sorted(os.environ))\nprint(os.environ.get('OPENAI_API_KEY'))\n"
        f"try:\n    print(open('/proc/{os.getpid()}/environ').read())\n"
        "except OSError as e:\n    print('DENIED', type(e).__name__)\n"
    )
    r = run_untrusted(code, **SMALL)
    assert r.status == "ok" and "sk-fake-secret" not in r.stdout_tail
    assert "OPENAI_API_KEY" not in r.stdout_tail.splitlines()[0]


def test_sys_exit_before_tests() -> None:
    r = run_tests("import sys\nsys.exit(0)\n", TESTS, **SMALL)
    assert (r.status, r.tests_run, r.passed) == ("error", 0, False)
    assert "sys.exit()" in r.stderr_tail


def test_os_exit_before_tests() -> None:
    r = run_tests("import os\nos._exit(0)\n", TESTS, **SMALL)
    assert (r.status, r.tests_run, r.passed) == ("error", 0, False)
    assert "no test report" in r.stderr_tail


def test_exit_inside_a_test_is_an_error() -> None:
    tests = "import unittest, sys\nclass T(unittest.TestCase):\n    def test(self):\n"
    r = run_tests("", tests + "        sys.exit(0)\n", **SMALL)
    assert (r.tests_run, r.tests_errored, r.passed) == (1, 1, False)


def test_children_left_behind_are_killed() -> None:
    code = (
        "import os, subprocess, sys, time\n"
        "p = subprocess.Popen(['sleep', '300'])\n"
        "q = subprocess.Popen([sys.executable, '-c',"
        " 'import os, time; os.setsid(); time.sleep(300)  # sbx-marker'])\n"
        "pid = os.fork()\n"
        "if pid == 0:\n    os.setsid()\n    time.sleep(300)\n    os._exit(0)\n"
        "print(p.pid, q.pid, pid, flush=True)\n"
    )
    r = run_untrusted(code, **{**SMALL, "timeout_s": 20})
    assert r.status == "ok", r  # it ended with its program, not at the wall clock
    pids = [int(p) for p in r.stdout_tail.split()]
    # Without a dedicated uid, processes that called setsid() can escape the sweep.
    swept = pids if INFO["dedicated_uid"] else pids[:1]
    assert _until_gone(lambda: [p for p in swept if _alive(p)]) == []
    _no_leftovers()


@pytest.mark.skipif(not INFO["rlimit_nproc"], reason="needs RLIMIT_NPROC")
def test_shell_fork_bomb_is_contained() -> None:
    code = "import subprocess\nsubprocess.run(['sh', '-c', 'b() { b | b & }; b # sbx-marker'])\n"
    r = run_untrusted(code, **{**SMALL, "timeout_s": 3})
    assert r.status in {"ok", "error", "timeout"}
    _no_leftovers()


# --- fallback containment when no dedicated uid / namespace is available ---------------


def test_audit_hook_fallback(monkeypatch: pytest.MonkeyPatch, listener: socket.socket) -> None:
    monkeypatch.setattr(sandbox, "_CAPS", _confine.Caps(0, False))
    if os.geteuid() == 0:  # no RLIMIT_NPROC for root: the audit-hook budget must hold
        r = run_untrusted(
            "import os\nwhile True:\n    os.fork()\n", **{**SMALL, "max_processes": 8}
        )
        assert r.status == "error" and "process limit" in r.stderr_tail
        _no_leftovers()
    port = listener.getsockname()[1]
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
    r = run_untrusted(code, **SMALL)
    assert r.status == "error" and "network access refused" in r.stderr_tail


# --- sealing: no capability kept, and no code at all where that cannot be arranged ------


@needs_uid
def test_no_read_any_file_capability() -> None:
    code = (
        "import os\nprint(open('/proc/self/status').read())\n"
        "for p in ('/etc/shadow', '/root/.bashrc'):\n"
        "    try:\n        open(p).read()\n        print('READ', p)\n"
        "    except OSError as e:\n        print('DENIED', p, type(e).__name__)\n"
    )
    r = run_untrusted(code, **SMALL)
    caps = {k: v for k, _, v in (ln.partition(":\t") for ln in r.stdout_tail.splitlines())}
    assert r.status == "ok" and "READ" not in r.stdout_tail, r.stdout_tail
    assert int(caps["CapEff"], 16) == int(caps["CapPrm"], 16) == int(caps["CapAmb"], 16) == 0


@pytest.mark.skipif(not INFO["mount_namespace"], reason="no mount namespace")
def test_the_mount_view_hides_tmp_but_keeps_the_interpreter(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("s")
    code = f"import os, sys\nprint(os.path.exists({str(tmp_path)!r}), sys.version_info[0])\n"
    r = run_untrusted(code, **SMALL)
    assert (r.status, r.stdout_tail) == ("ok", "False 3\n")


def test_root_that_cannot_shed_privileges_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_confine.os, "geteuid", lambda: 0)
    monkeypatch.setattr(_confine, "probe_run", lambda caps: False)
    monkeypatch.setattr(_confine, "_untraversable", lambda path: "/root")
    caps = _confine.probe()
    assert "cannot run untrusted code as root" in caps.error and "/root" in caps.error
    monkeypatch.setattr(sandbox, "_CAPS", caps)
    r = run_tests("def add(a, b):\n    return a + b\n", TESTS, **SMALL)
    assert (r.status, r.pass_rate) == ("internal", 0.0) and "as root" in r.stderr_tail


# --- loud when weaker --------------------------------------------------------------------


def test_weak_containment_refuses_to_score_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert INFO["containment"].startswith("strong" if INFO["dedicated_uid"] else "weak")
    monkeypatch.delenv("LANGGRAPH_COLLAB_ALLOW_WEAK_SANDBOX", raising=False)
    monkeypatch.setattr(sandbox, "_CAPS", _confine.Caps(0, False))
    right = "def add(a, b):\n    return a + b\n"
    r = run_tests(right, TESTS, **SMALL)
    assert (r.status, r.pass_rate) == ("internal", 0.0) and "allow_weak_sandbox" in r.stderr_tail
    assert r.containment == "weak: shared uid, host files visible, network reachable"
    r = run_tests(right, TESTS, **SMALL, allow_weak_sandbox=True)
    assert (r.status, r.pass_rate, r.containment[:5]) == ("ok", 1.0, "weak:")
    monkeypatch.setenv("LANGGRAPH_COLLAB_ALLOW_WEAK_SANDBOX", "1")
    assert run_tests(right, TESTS, **SMALL).pass_rate == 1.0


def test_results_say_which_containment_applied() -> None:
    r = run_tests("def add(a, b):\n    return a + b\n", TESTS, **SMALL)
    assert r.containment == INFO["containment"] and r.pass_rate == 1.0


def test_each_test_method_gets_a_fresh_code_process() -> None:
    solution = "import os\nSEEN = []\ndef visit(x):\n    SEEN.append(x)\n    return len(SEEN)\n"
    solution += "def pid():\n    return os.getpid()\n"
    tests = (
        "import unittest\nclass T(unittest.TestCase):\n    pids = []\n"
        "    def test_a(self):\n        self.assertEqual(visit(1), 1)\n"
        "        self.pids.append(pid())\n"
        "    def test_b(self):\n        self.assertEqual(visit(2), 1)\n"
        "        self.pids.append(pid())\n        self.assertEqual(len(set(self.pids)), 2)\n"
    )
    r = run_tests(solution, tests, **SMALL)
    assert (r.status, r.tests_passed) == ("ok", 2), r.stderr_tail[-2000:]
