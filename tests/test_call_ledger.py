"""The call ledger: a collection killed several times and resumed reports, in
``summary.json`` and in its records, every call the models counted, kills included."""

from __future__ import annotations

import json
import queue
import signal

from langgraph_collab.collection.records import read_records
from tests.test_one_writer import N_TASKS, Worker, next_event


def test_a_run_killed_several_times_reports_every_call_the_models_made(tmp_path):
    out, events = tmp_path / "run", queue.Queue()
    kills = 0
    for round_ in range(3):  # each run is SIGKILLed inside its 15th model call
        worker = Worker(f"killed-{round_}", out, tmp_path, events, block_at=15)
        name, line = next_event(events)
        while name != worker.name:  # the end of the worker killed before
            name, line = next_event(events)
        if line != "blocked":
            break
        worker.proc.send_signal(signal.SIGKILL)
        worker.wait()
        kills += 1
    last = Worker("last", out, tmp_path, events)
    assert last.wait() == 0, last.stderr
    assert kills == 3
    made = sum(len(log.read_text().splitlines()) for log in tmp_path.glob("calls-*.log"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == kills + 1
    total, cut = summary["calls_total"], summary["calls_cut_short"]
    # Every call a model made is counted. A call in flight at a SIGKILL counts from its
    # start (it was on its way, and may be billed) and is shown as cut short, whether the
    # kill caught it before the model, inside it (each kill here: the blocked one) or
    # after it; at most the calls in flight (collect's default cap: 16).
    assert total - cut <= made <= total, (total, cut, made)
    assert kills <= cut <= kills * 16
    assert sum(u["calls"] for u in summary["usage"].values()) == total
    assert summary["calls"] == last.calls  # this run's own
    records = read_records(out / "records.jsonl")
    assert len(records) == N_TASKS
    # Every call was made for a task: the records count them all, redone ones marked.
    assert sum(u.calls for r in records for u in r.usage.values()) == total
    redone = sum(r.metadata.get("calls_redone", 0) for r in records)
    assert redone > 0


def test_a_run_never_killed_reports_exactly_the_calls_made(tmp_path):
    out, events = tmp_path / "run", queue.Queue()
    first = Worker("first", out, tmp_path, events)
    assert first.wait() == 0, first.stderr
    again = Worker("again", out, tmp_path, events)  # a rerun: nothing to do, no call
    assert again.wait() == 0, again.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["calls_total"] == first.calls and summary["calls_cut_short"] == 0
    assert summary["runs"] == 2 and summary["calls"] == 0 and summary["calls_redone"] == 0
    records = read_records(out / "records.jsonl")
    assert sum(u.calls for r in records for u in r.usage.values()) == first.calls


def test_a_ledger_line_cut_by_a_kill_is_dropped_and_the_next_run_appends_cleanly(tmp_path):
    import uuid

    from langgraph_collab.collection._call_ledger import CallLedger

    path = tmp_path / "usage.jsonl"
    ledger = CallLedger(path)
    ledger.on_chat_model_start(
        {}, [[]], run_id=uuid.uuid4(), tags=["role:judge"], metadata={"task_id": "t"}
    )
    ledger.close()
    with path.open("ab") as file:
        file.write(b'["start", 1, "t", "ju')  # a write the kill cut short
    again = CallLedger(path)
    again.close()
    assert (again.runs, again.by_role()["judge"].calls, again.cut_short) == (2, 1, 1)
    assert path.read_text().endswith('["run", 2, ' + str(__import__("os").getpid()) + "]\n")
