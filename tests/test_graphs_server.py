"""The graphs of langgraph.json, served by ``langgraph dev`` (the in-memory API server) on
loopback and driven with the langgraph-sdk client: create a thread, run, read the state.

The server runs from a temporary folder (its ``.langgraph_api`` files land there) with a
copy of langgraph.json whose paths point into the repository, and the ``fake`` model for
every role (``LANGGRAPH_COLLAB_MODEL=fake``), so no model is loaded and nothing leaves the
machine. Server logs are printed when a test fails.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytest.importorskip("langgraph_api", reason="needs langgraph-cli[inmem]")
from langgraph_sdk import get_sync_client

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 180.0  # seconds for the server to import everything (2 slow cores in CI)
RUN_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, process: subprocess.Popen, url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log

    def logs(self, limit: int = 12_000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return re.sub(r"\x1b\[[0-9;]*m", "", text)[-limit:]  # without terminal colours

    @contextmanager
    def explained(self) -> Iterator[None]:
        """Re-raise a failure with the server's log attached."""
        try:
            yield
        except Exception as error:
            raise AssertionError(f"{error}\n--- langgraph dev log ---\n{self.logs()}") from error

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)


def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"langgraph dev exited early ({server.process.returncode}):\n{server.logs()}"
            )
        try:
            if httpx.get(f"{server.url}/ok", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"langgraph dev was not ready in {READY_TIMEOUT:.0f} s:\n{server.logs()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("langgraph_dev")
    config = json.loads((ROOT / "langgraph.json").read_text())
    config["dependencies"] = [str(ROOT)]
    config["graphs"] = {
        name: str(ROOT / path.removeprefix("./")) for name, path in config["graphs"].items()
    }
    (workdir / "langgraph.json").write_text(json.dumps(config))
    port = free_port()
    env = {
        **os.environ,
        "LANGGRAPH_COLLAB_MODEL": "fake",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        str(Path(sys.executable).with_name("langgraph")),
        "dev",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-browser",
        "--no-reload",
        "--config",
        str(workdir / "langgraph.json"),
    ]
    log = workdir / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    running = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_ready(running)
        yield running
    finally:
        running.stop()


def run(server: Server, graph: str, payload: dict) -> tuple[dict, dict]:
    """Create a thread, run ``graph`` on it to the end, read the thread's state."""
    client = get_sync_client(url=server.url, api_key=None, timeout=RUN_TIMEOUT)
    with server.explained():
        thread = client.threads.create()
        out = client.runs.wait(thread["thread_id"], graph, input=payload)
        assert isinstance(out, dict) and "__error__" not in out, out
        state = client.threads.get_state(thread["thread_id"])
        return out, state["values"]


def test_the_server_serves_the_four_graphs(server):
    client = get_sync_client(url=server.url, api_key=None, timeout=RUN_TIMEOUT)
    with server.explained():
        graphs = {a["graph_id"] for a in client.assistants.search(limit=20)}
    assert {"conversation", "reward", "collaborative_agent", "collaborative_middleware"} <= graphs


def test_conversation_graph(server):
    task = {"id": "t1", "kind": "math", "request": "What is 2 + 2?", "reference": "4"}
    _, state = run(server, "conversation", {"messages": [], "task": task})
    with server.explained():
        kinds = [m["type"] for m in state["messages"]]
        assert kinds[:2] == ["human", "ai"] and state["done"] is True
        assert state["task"]["request"] == "What is 2 + 2?"


def test_reward_graph(server):
    payload = {
        "messages": [{"role": "user", "content": "Help me plan a trip"}],
        "candidates": ["Go to Lisbon.", "Where would you like to go, and when?"],
        "task": {"request": "Plan a 3-day trip to Lisbon in May"},
    }
    _, state = run(server, "reward", payload)
    with server.explained():
        rewards = state["rewards"]
        errors = [s["error"] for r in rewards for s in r["samples"]]
        assert len(rewards) == 2, errors
        for reward in rewards:  # two valid futures each, and a finite MR
            assert len(reward["samples"]) == 2 and reward["n_failed"] == 0, errors
            assert reward["mean"] is not None and math.isfinite(reward["mean"]), errors
            assert all(math.isfinite(s["reward"]) for s in reward["samples"]), errors


@pytest.mark.parametrize("graph", ["collaborative_agent", "collaborative_middleware"])
def test_collaborative_agent_graphs(server, graph):
    payload = {"messages": [{"role": "user", "content": "Plan 3 days in Lisbon on a budget"}]}
    _, state = run(server, graph, payload)
    with server.explained():
        kinds = [m["type"] for m in state["messages"]]
        assert kinds == ["human", "ai", "tool", "ai"]  # the live thread: the chosen reply only
        assert "Lisbon: 3 days" in state["messages"][2]["content"]  # the real tool ran
        collab = state["collab"]
        assert collab["forks"] == "checkpoint" and len(collab["candidates"]) == 3
        scores = collab["scores"]
        assert all(score is not None and math.isfinite(score) for score in scores), scores
        assert collab["chosen"] == max(range(len(scores)), key=scores.__getitem__)
        assert state["messages"][-1]["content"] == collab["candidates"][collab["chosen"]]
