"""LangSmith never blocks: with tracing on and an endpoint that is down or hangs, every
public entry point warns once, does its work untraced without building a LangSmith client
(whose upload threads could hold the exit up), and the process exits."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXIT_BOUND_S = 60  # a failure bound on the exit after the work, not a speed check: what
# could hold the exit up (the SDK's upload threads) is shown absent by the work's last line

WORK = {
    "score_candidates": """
        from langgraph_collab import Task, score_candidates
        score_candidates([("user", "2+2?")], ["4"], task=Task(kind="math", request="2+2?",
                         reference="4"), user=make_user(stop_after=1),
                         assistant=make_assistant(), judge=make_judge(), samples=2, window=1)
    """,
    "collect": """
        import tempfile
        from langgraph_collab import collect
        from langgraph_collab.tasks import load_tasks
        collect(load_tasks("math", limit=2), user=make_user(stop_after=1),
                assistant=make_assistant(), judge=make_judge(), out_dir=tempfile.mkdtemp(),
                candidates=2, samples=1, window=1, progress=False)
    """,
    "evaluate": """
        from langgraph_collab import evaluate
        from langgraph_collab.tasks import load_tasks
        evaluate(load_tasks("math", limit=1), assistants={"base": make_assistant()},
                 user=make_user(stop_after=1), judge=make_judge(), max_turns=1, progress=False)
    """,
}


class SilentServer:
    """A loopback socket that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def run_traced(entry: str, endpoint: str) -> tuple[str, str]:
    """Run ``entry`` with tracing on against ``endpoint``; returns (stdout, stderr) once
    the process exited. The work must end with no LangSmith client built (so no upload
    thread can keep the process alive), and the process must exit after it."""
    script = "from tests.conftest import make_assistant, make_judge, make_user\n"
    script += textwrap.dedent(WORK[entry])
    script += "from langsmith import run_trees\n"
    script += "print('WORK DONE, client:', run_trees._CLIENT is not None, flush=True)\n"
    env = {
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
        "LANGSMITH_TRACING": "true",
        "LANGSMITH_ENDPOINT": endpoint,
        "LANGSMITH_API_KEY": "lsv2-test",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the work is done (or the process died)
    assert line.strip() == "WORK DONE, client: False", line + proc.communicate()[1][-3000:]
    try:
        out, err = proc.communicate(timeout=EXIT_BOUND_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"{entry}: the process did not exit after its work")
    assert proc.returncode == 0, err[-3000:]
    return line + out, err


@pytest.mark.parametrize("entry", sorted(WORK))
def test_a_hanging_endpoint_never_keeps_the_process_alive(entry):
    server = SilentServer()
    try:
        _, err = run_traced(entry, server.url)
    finally:
        server.close()
    assert err.count("does not answer: tracing is off for this run") == 1


def test_a_closed_port_warns_once_and_exits():
    _, err = run_traced("score_candidates", closed_port_url())
    assert err.count("does not answer") == 1


def test_the_guard_reads_the_endpoint_without_building_a_client(monkeypatch):
    from langsmith import run_trees

    from langgraph_collab.tracing import langsmith_reachable

    monkeypatch.setenv("LANGSMITH_ENDPOINT", closed_port_url())
    before = run_trees._CLIENT
    assert langsmith_reachable(timeout=1) is False
    assert run_trees._CLIENT is before  # no client, so no upload threads were started
