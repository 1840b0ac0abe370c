"""One writer per run folder: a second collect (API or CLI) on a folder another live run
writes fails at once, before any model call, naming the holder; a killed holder leaves no
stale lock; every task is recorded once. Records with a task twice are refused, with a
repair; a stopped run says in one line what it kept.

Processes synchronise on what they print (``blocked``: inside a model call, holding the
folder) and on stdin, never on sleeps; every wait is bounded, so a regression fails
instead of hanging."""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from langgraph_collab.collection.export import export_datasets
from langgraph_collab.collection.records import (
    DuplicateRecordError,
    read_records,
    recorded_task_ids,
    repair_records,
    write_records,
)
from langgraph_collab.collection.run_lock import RunLockedError, hold_run_lock
from langgraph_collab.train.__main__ import main
from tests.conftest import judge_json, scripted_reply
from tests.fake_openai import FakeOpenAI, Reply, role_of
from tests.test_export import make_record

WORKER = Path(__file__).with_name("collect_worker.py")
N_TASKS = 4
BOUND_S = 120  # an upper bound on any wait: a hang fails the test instead of blocking it


class Worker:
    """``tests/collect_worker.py`` in block mode as a subprocess; its stdout lines (None
    at its end) go to ``events`` tagged with ``name``."""

    def __init__(
        self, name: str, out: Path, tmp: Path, events: queue.Queue, *, block_at: int = 0
    ) -> None:
        self.name, self.calls_log, self.err = name, tmp / f"calls-{name}.log", tmp / f"err-{name}"
        command = [sys.executable, str(WORKER), "block", str(out), str(N_TASKS)]
        with self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [*command, "--calls-log", str(self.calls_log), "--block-at", str(block_at)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
            )  # fmt: skip
        self.last = ""

        def read() -> None:
            for line in self.proc.stdout:
                self.last = line
                events.put((self.name, line.strip()))
            events.put((self.name, None))

        threading.Thread(target=read, daemon=True).start()

    def release(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def wait(self) -> int:
        return self.proc.wait(timeout=BOUND_S)

    @property
    def calls(self) -> int:
        return len(self.calls_log.read_text().splitlines()) if self.calls_log.exists() else 0

    @property
    def stderr(self) -> str:
        return self.err.read_text()


def next_event(events: queue.Queue) -> tuple[str, str | None]:
    return events.get(timeout=BOUND_S)


def assert_refused(loser: Worker, out: Path, holder: Worker) -> None:
    """``loser`` failed at once, before any model call, with the message naming the
    folder and the holder."""
    assert loser.wait() == 1
    assert loser.calls == 0
    err = loser.stderr
    assert "RunLockedError" in err and str(out) in err, err
    assert f"pid {holder.proc.pid} on {socket.gethostname()}" in err, err


def assert_each_task_once(out: Path) -> None:
    records = read_records(out / "records.jsonl")  # refuses a task recorded twice
    assert len(records) == N_TASKS


def cli_argv(tmp_path: Path, base_url: str, *extra: str) -> list[str]:
    """The CLI's collect stage on run folder ``tmp_path/w``, every role on ``base_url``."""
    return [
        *("--name", "w", "--output-dir", str(tmp_path), "--tasks", "math"),
        *("--train-limit", "2", "--stages", "collect", "--base-url", base_url),
        *("--user", "openai:fake", "--judge", "openai:fake", "--assistant", "openai:fake"),
        *("--api-key", "sk-test", *extra),
    ]


def test_a_second_collect_on_a_held_folder_fails_at_once_naming_the_holder(tmp_path):
    out, events = tmp_path / "run", queue.Queue()
    holder = Worker("holder", out, tmp_path, events, block_at=1)
    assert next_event(events) == ("holder", "blocked")  # inside its first model call
    second = Worker("second", out, tmp_path, events)
    assert_refused(second, out, holder)
    holder.release()
    assert holder.wait() == 0
    assert_each_task_once(out)


def test_two_collects_started_together_one_runs_the_other_is_refused(tmp_path):
    out, events = tmp_path / "run", queue.Queue()
    workers = {n: Worker(n, out, tmp_path, events, block_at=1) for n in ("a", "b")}
    seen: dict[str, list[str | None]] = {"a": [], "b": []}
    while not (["blocked"] in seen.values() and any(None in v for v in seen.values())):
        name, line = next_event(events)
        seen[name].append(line)
    winner = next(w for n, w in workers.items() if seen[n] == ["blocked"])
    loser = next(w for w in workers.values() if w is not winner)
    assert_refused(loser, out, winner)
    winner.release()
    assert winner.wait() == 0
    assert_each_task_once(out)


def test_a_requeue_after_the_holder_was_killed_takes_the_folder_at_once(tmp_path):
    out, events = tmp_path / "run", queue.Queue()
    holder = Worker("holder", out, tmp_path, events, block_at=40)
    assert next_event(events) == ("holder", "blocked")
    holder.proc.send_signal(signal.SIGKILL)
    holder.wait()
    requeued = Worker("requeued", out, tmp_path, events)
    assert requeued.wait() == 0, requeued.stderr
    assert_each_task_once(out)


def test_the_cli_refuses_a_folder_that_a_collect_holds(tmp_path, capsys):
    calls = []

    def responder(body: dict) -> Reply:
        calls.append(body)
        return Reply(judge_json() if role_of(body) == "judge" else "It is 4.")

    out, events = tmp_path / "w" / "collect", queue.Queue()
    holder = Worker("holder", out, tmp_path, events, block_at=1)
    assert next_event(events) == ("holder", "blocked")
    with FakeOpenAI(responder) as server:
        argv = cli_argv(tmp_path, server.base_url)
        assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: collect: RunLockedError:"), err
    assert f"pid {holder.proc.pid}" in err[0] and str(out) in err[0]
    assert calls == []  # refused before any model call
    holder.release()
    assert holder.wait() == 0
    assert_each_task_once(out)


def test_two_cli_runs_on_one_run_folder(tmp_path, capsys):
    started, go = threading.Event(), threading.Event()

    def responder(body: dict) -> Reply:
        started.set()
        assert go.wait(BOUND_S)  # the holder waits inside its first model call
        return scripted_reply(body)

    with FakeOpenAI(responder) as server:
        argv = cli_argv(
            tmp_path, server.base_url, "--candidates", "2", "--samples", "1", "--window", "1"
        )
        command = [sys.executable, "-m", "langgraph_collab.train", *argv]
        holder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert started.wait(BOUND_S)
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert "RunLockedError" in err and f"pid {holder.pid}" in err, err
            assert str(tmp_path / "w") in err and "langgraph_collab.train" in err
        finally:
            go.set()
            assert holder.wait(timeout=BOUND_S) == 0, holder.stderr.read().decode()
    assert len(read_records(tmp_path / "w" / "collect" / "records.jsonl")) == 2


def test_the_lock_is_per_open_and_released_on_exit(tmp_path):
    with (
        hold_run_lock(tmp_path, what="test"),
        pytest.raises(RunLockedError, match=r"pid \d+ on .*, test"),
        hold_run_lock(tmp_path),
    ):
        pass
    with hold_run_lock(tmp_path):  # released: taken again at once
        pass


# ------------------------------------------------------------------------------ stops


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_collect_says_in_one_line_what_it_kept_and_resumes(tmp_path, signum):
    out, events = tmp_path / "run", queue.Queue()
    worker = Worker("stopped", out, tmp_path, events, block_at=60)
    assert next_event(events) == ("stopped", "blocked")
    worker.proc.send_signal(signum)  # handled once the blocked call returns
    worker.release()
    status = worker.wait()
    err = worker.stderr
    lines = [line for line in err.splitlines() if line.strip()]
    stop = f"collect stopped by {signal.Signals(signum).name}: "
    assert lines[0].startswith(stop) and "run the same collect again" in lines[0], err
    assert f"of {N_TASKS} tasks are recorded in {out / 'records.jsonl'}" in lines[0]
    assert "asyncio" not in err and "Task exception" not in err, err
    if signum == signal.SIGTERM:
        assert status == 143 and len(lines) == 1, err
    else:  # KeyboardInterrupt: the line, then a short traceback of the caller's frames
        assert status in (-signal.SIGINT, 130, 1) and len(lines) <= 12, err
        assert lines[-1] == "KeyboardInterrupt"
    again = Worker("resumed", out, tmp_path, events)
    assert again.wait() == 0, again.stderr
    assert_each_task_once(out)


# ------------------------------------------------------------------------------ records


def test_a_task_recorded_twice_is_refused_with_the_lines_and_the_repair(tmp_path):
    path = tmp_path / "records.jsonl"
    first, other, second = make_record("a"), make_record("b"), make_record("a")
    second.metadata["run"] = "second"
    write_records([first, other, second], path)
    with pytest.raises(DuplicateRecordError, match=r"task 'a' is recorded twice \(lines 1 and 3"):
        read_records(path)
    with pytest.raises(DuplicateRecordError, match="repair-records"):
        read_records(path)
    with pytest.raises(DuplicateRecordError, match=r"task 'a' is in the records twice"):
        export_datasets([first, other, second], tmp_path / "datasets")
    assert recorded_task_ids(path) == {"a", "b"}  # a resume is not blocked by it
    assert main(["repair-records", str(path)]) == 0
    records = read_records(path)
    assert [r.task.id for r in records] == ["a", "b"] and "run" not in records[0].metadata
    assert len((tmp_path / "records.jsonl.bak").read_text().splitlines()) == 3
    assert repair_records(path) == []  # nothing left to repair


def test_a_damaged_records_file_names_the_file_the_line_and_the_fix(tmp_path):
    path = tmp_path / "records.jsonl"
    write_records([make_record("a"), make_record("b")], path)
    lines = path.read_bytes().splitlines()
    path.write_bytes(lines[0] + b"\n" + b"\xff\xfe broken\n" + lines[1] + b"\n")
    with pytest.raises(ValueError, match=rf"{path}: line 2: not UTF-8.*delete that line"):
        read_records(path)
    path.write_bytes(lines[0] + b"\n{not json\n" + lines[1] + b"\n")
    with pytest.raises(ValueError, match=rf"(?s){path}: line 2: not a conversation record.*delete"):
        read_records(path)


def test_the_cli_stopped_by_sigterm_says_so_in_one_line_and_resumes(tmp_path):
    started, go = threading.Event(), threading.Event()

    def responder(body: dict) -> Reply:
        started.set()
        go.wait(BOUND_S)  # the first calls wait until the run was told to stop
        return scripted_reply(body)

    with FakeOpenAI(responder) as server:
        argv = cli_argv(
            tmp_path, server.base_url, "--candidates", "2", "--samples", "1", "--window", "1"
        )
        command = [sys.executable, "-m", "langgraph_collab.train", *argv]
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert started.wait(BOUND_S)
            run.send_signal(signal.SIGTERM)
            assert run.wait(timeout=BOUND_S) == 143
        finally:
            go.set()
        lines = [line for line in run.stderr.read().decode().splitlines() if line.strip()]
        lines = [line for line in lines if "task/s]" not in line and "%|" not in line]  # the bar
        assert len(lines) == 1, lines
        assert lines[0].startswith("collect stopped by SIGTERM: 0 of 2 tasks are recorded")
        assert "to resume" in lines[0]
        assert main(argv) == 0  # the same command resumes
    assert len(read_records(tmp_path / "w" / "collect" / "records.jsonl")) == 2
