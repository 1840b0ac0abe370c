import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from langgraph_collab.collection.collect import collect
from langgraph_collab.collection.graph import create_collection_graph
from langgraph_collab.collection.records import read_records
from langgraph_collab.tasks import load_tasks
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import Gathering, collect_scripted, make_assistant, make_judge, make_user

WORKER = Path(__file__).with_name("collect_worker.py")


def run_worker(
    out: Path, n_tasks: int, latency: float, kill_after_calls: int | None = None
) -> bool:
    """Run the worker; with ``kill_after_calls``, SIGKILL it once it has made that many
    model calls. True if it finished by itself."""
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "count", str(out), str(n_tasks), "--stop-after", "3",
         "--latency", str(latency)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    calls = 0
    for line in proc.stdout:  # one line per model call, until the worker exits
        calls += line.startswith("call")
        if kill_after_calls is not None and calls >= kill_after_calls:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return False
    proc.wait()
    assert proc.returncode == 0
    return True


def test_a_conversation_is_collected_with_every_candidate_scored(tmp_path):
    tasks = load_tasks("math", limit=2)
    summary = collect_scripted(
        tmp_path, tasks, user=make_user(stop_after=2), candidates=3, samples=2
    )
    records = read_records(tmp_path / "records.jsonl")
    assert (summary.recorded, summary.skipped, summary.failed) == (2, 0, 0)
    assert [r.task.id for r in records] == [t.id for t in tasks] or {
        r.task.id for r in records
    } == {t.id for t in tasks}
    record = records[0]
    assert [m["role"] for m in record.messages] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert record.messages[-1]["content"].endswith("[[TERMINATE CHAT]]")
    assert len(record.turns) == 2
    turn = record.turns[0]
    assert len(turn.candidates) == 3 and sum(c.proactive for c in turn.candidates) == 2
    assert all(c.mr is not None and len(c.samples) == 2 for c in turn.candidates)
    assert turn.prompt == record.messages[:1]
    assert record.messages[1]["content"] == turn.candidates[turn.chosen].content
    assert turn.candidates[turn.chosen].mr == max(c.mr for c in turn.candidates)
    # the next user message is the winner's forward sample's
    assert record.messages[2] == turn.candidates[turn.chosen].samples[0].future[0]
    assert set(record.usage) == {"simulated_user", "assistant", "judge"}
    assert json.loads((tmp_path / "summary.json").read_text())["recorded"] == 2


def test_code_records_and_the_summary_say_which_sandbox_scored_them(tmp_path):
    from langgraph_collab.sandbox import containment_info

    summary = collect_scripted(tmp_path, load_tasks("code", limit=1), candidates=1)
    (record,) = read_records(tmp_path / "records.jsonl")
    assert record.containment == summary.containment == containment_info()["containment"]
    assert json.loads((tmp_path / "summary.json").read_text())["containment"] == record.containment


def test_the_message_budget_stops_a_conversation(tmp_path):
    collect_scripted(tmp_path, user=make_user(), candidates=1, max_messages=6)
    (record,) = read_records(tmp_path / "records.jsonl")
    assert len(record.messages) == 6 and record.messages[-1]["role"] == "assistant"


def test_the_global_call_cap_holds_across_tasks(tmp_path):
    # The users' calls wait until 2 are in flight at once (the calls overlap); the others
    # take a while, so that a cap let through would show.
    user = Gathering(script=make_user(stop_after=1).script, parties=2)
    summary = collect_scripted(
        tmp_path, 3, user=user, assistant=make_assistant(0.02), judge=make_judge(0.02),
        samples=3, max_concurrent_tasks=3, max_model_calls=4,
    )  # fmt: skip
    assert 2 <= summary.peak_calls_in_flight <= 4  # calls overlapped, never past the cap
    assert summary.calls == sum(u.calls for u in summary.usage.values())


def test_failures_outliving_retries_are_left_unrecorded_and_reported(tmp_path):
    from langgraph_collab import ScoringError, create_simulated_user
    from langgraph_collab.errors import Backoff

    user = create_simulated_user(ScriptedChatModel(script=[""]), backoff=Backoff(base=0.001))
    with pytest.raises(ScoringError, match=r"every one of 1 tasks failed.*simulated_user"):
        collect(
            load_tasks("math", limit=1),
            user=user,
            assistant=make_assistant(),
            judge=make_judge(),
            out_dir=tmp_path,
            progress=False,
        )
    assert not (tmp_path / "records.jsonl").exists()  # a re-run retries the task
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["failed"] == 1 and "empty message" in next(iter(summary["errors"].values()))


def _refusing() -> ScriptedChatModel:
    def script(messages):
        raise AssertionError("a finished thread must not call its models again")

    return ScriptedChatModel(script=script)


@pytest.mark.parametrize("damage", ["delete", "cut_last_line", "torn_last_line"])
def test_records_lost_after_the_fact_are_written_again_from_checkpoints(tmp_path, damage):
    tasks = load_tasks("math", limit=3)
    collect_scripted(tmp_path, tasks, samples=2)
    path = tmp_path / "records.jsonl"
    original = {r.task.id: r for r in read_records(path)}
    lines = path.read_text().splitlines(keepends=True)
    if damage == "delete":
        path.unlink()
    elif damage == "cut_last_line":
        path.write_text("".join(lines[:-1]))
    else:
        path.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    refusing = {"user": _refusing(), "assistant": _refusing(), "judge": _refusing()}
    again = collect_scripted(tmp_path, tasks, samples=2, **refusing)
    records = read_records(path)
    assert sorted(r.task.id for r in records) == sorted(t.id for t in tasks)  # once each
    assert again.recorded == (3 if damage == "delete" else 1)  # counted from real writes
    for record in records:
        assert record.model_dump() == original[record.task.id].model_dump()


def test_usage_lives_in_checkpointed_state_and_survives_a_resume(tmp_path):
    from langgraph_collab import ScoringError, create_assistant
    from langgraph_collab.errors import Backoff

    tasks = load_tasks("math", limit=1)
    failing = {"on": True}

    def script(messages):
        if failing["on"] and sum(m.type == "ai" for m in messages) >= 1:
            raise TimeoutError("the second turn times out")  # a transient failure mid-run
        return f"reply {len(messages)}"

    flaky = create_assistant(ScriptedChatModel(script=script), backoff=Backoff(base=0.001))
    kwargs = {"user": make_user(stop_after=2), "assistant": flaky, "samples": 2}
    with pytest.raises(ScoringError):
        collect_scripted(tmp_path, tasks, **kwargs)
    failing["on"] = False
    collect_scripted(tmp_path, tasks, **kwargs)
    (record,) = read_records(tmp_path / "records.jsonl")
    clean = tmp_path / "clean"
    collect_scripted(clean, tasks, **kwargs)
    (reference,) = read_records(clean / "records.jsonl")
    # The first run's finished turn is in the record's usage, not only the second run's.
    assert record.usage["assistant"].calls >= reference.usage["assistant"].calls
    assert record.usage["judge"].calls == reference.usage["judge"].calls


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="proactive_share"):
        create_collection_graph(
            user=make_user(), assistant=make_assistant(), judge=make_judge(), proactive_share=2
        )
    with pytest.raises(ValueError, match="unique"):
        task = load_tasks("math", limit=1)[0]
        collect_scripted("/nonexistent", [task, task])


def test_a_second_run_skips_recorded_tasks(tmp_path):
    collect_scripted(tmp_path, 2, candidates=1)
    again = collect_scripted(tmp_path, 3, candidates=1)
    assert (again.skipped, again.recorded) == (2, 1)
    assert len(read_records(tmp_path / "records.jsonl")) == 3


@pytest.mark.integration
def test_sigkill_at_several_points_then_resume_loses_and_doubles_nothing(tmp_path):
    n_tasks, latency = 4, 0.05
    clean = tmp_path / "clean"
    assert run_worker(clean, n_tasks, latency)
    expected = read_records(clean / "records.jsonl")
    clean_calls = len((clean / "calls.log").read_text().splitlines())

    killed, kills, seen = tmp_path / "killed", 0, []
    for _ in range(12):  # each run makes a fifth of the calls, then is SIGKILLed
        if run_worker(killed, n_tasks, latency, kill_after_calls=clean_calls // 5):
            break
        kills += 1
        path = killed / "records.jsonl"
        text = path.read_text() if path.exists() else ""
        assert text == "" or text.endswith("\n")  # never a torn line
        seen.append(len(text.splitlines()))
    else:
        assert run_worker(killed, n_tasks, latency)
    assert kills >= 3, seen
    assert seen == sorted(seen)  # progress is kept across kills

    records = read_records(killed / "records.jsonl")
    assert len(records) == len(expected) == n_tasks
    assert len({r.task.id for r in records}) == n_tasks
    by_id = {r.task.id: r for r in expected}
    for record in records:
        assert record.messages == by_id[record.task.id].messages
        assert [t.chosen for t in record.turns] == [t.chosen for t in by_id[record.task.id].turns]
    # Finished turns are not redone: only the turn in flight at each kill repeats
    # (at most 2 tasks x one turn of 2 candidates x 2 samples x 3 calls + 2 proposals).
    total_calls = len((killed / "calls.log").read_text().splitlines())
    assert clean_calls <= total_calls <= clean_calls + kills * 2 * 14, (total_calls, clean_calls)
