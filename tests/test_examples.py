"""Every example runs offline on the embedded model (with its small settings), and what it
prints or writes holds what it says: the scored replies, the record and its datasets, the
report's rows, the trained run.

A 135M model may give up on a future or a conversation (the fidelity guard, no finite MR):
such an outcome is accepted when it is counted where the results say so, never silent."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, *args: str, cwd: Path) -> str:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out.stdout


def test_score_replies(tmp_path):
    from langgraph_collab.tasks import demo_example

    out = run_example("score_replies.py", "--samples", "1", "--window", "1", cwd=tmp_path)
    candidates = demo_example()[2]
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("candidate"))
    assert "accuracy" in lines[head] and lines[head + 1].startswith("---")
    rows = lines[head + 2 : head + 2 + len(candidates)]
    for row in rows:  # a finite MR, or n/a with its one future counted as failed
        mean, *_, failed, calls = row[48:].split()
        assert (mean == "n/a" and failed == "1") or math.isfinite(float(mean)), row
        assert int(calls) >= 1, row
    best = out.split("Best reply: ", 1)[1].rsplit("  (", 1)[0]
    assert best in {repr(text) for text in candidates}, best


def test_simulate_conversation(tmp_path):
    out = run_example("simulate_conversation.py", "--turns", "1", "--kind", "math", cwd=tmp_path)
    assert out.startswith("Hidden goal:") and "assistant turns;" in out
    # The 135M simulated user either holds a conversation or is stopped by the fidelity guard,
    # and the example says which.
    assert ("USER:" in out and "ASSISTANT:" in out) or "simulated_user: fidelity:" in out


def test_collect_and_export(tmp_path):
    from datasets import load_from_disk

    from langgraph_collab.collection.records import read_records

    run = tmp_path / "run"
    out = run_example("collect_and_export.py", "--fast", "--limit", "1", "--out", str(run),
                      cwd=tmp_path)  # fmt: skip
    assert "1 new records" in out
    (record,) = read_records(run / "records.jsonl")
    # Turns, each chosen by a finite MR, or a conversation ended as a counted failure.
    assert record.turns or (record.stop_reason == "failure" and record.failure), record
    for turn in record.turns:
        assert len(turn.candidates) == 2 and math.isfinite(turn.candidates[turn.chosen].mr)
    columns = {
        "sft": ["messages", "task_id", "kind", "score"],
        "dpo": ["prompt", "chosen", "rejected", "chosen_score", "rejected_score", "task_id",
                "turn"],
        "prompts": ["prompt", "task_id", "kind", "request", "reference", "metadata",
                    "description", "opening"],
    }  # fmt: skip
    datasets = {name: load_from_disk(str(run / "datasets" / name)) for name in columns}
    for name, dataset in datasets.items():
        assert dataset.column_names == columns[name], name
        lines = (run / "datasets" / f"{name}.jsonl").read_text().splitlines()
        assert len(lines) == len(dataset), name
        assert all(row["task_id"] == record.task.id for row in dataset), name
    assert len(datasets["prompts"]) == len(record.turns)  # one prompt per turn
    assert len(datasets["dpo"]) <= len(record.turns)  # at most one pair per turn
    for pair in datasets["dpo"]:
        assert pair["chosen_score"] >= pair["rejected_score"] and pair["chosen"] != pair["rejected"]
    assert len(datasets["sft"]) == (0 if record.failure else 1)


def test_evaluate_models(tmp_path):
    from langgraph_collab.evaluation.report import EvaluationReport

    out = run_example(
        "evaluate_models.py", "--tasks", "math", "--limit", "1", "--turns", "1",
        "--out", str(tmp_path / "eval"), cwd=tmp_path,
    )  # fmt: skip
    assert "| base |" in out and (tmp_path / "eval" / "report.png").is_file()
    report = EvaluationReport.load(tmp_path / "eval" / "report.json")
    assert (report.models, report.kinds, report.max_turns) == (["base", "proactive"], ["math"], 1)
    assert sorted(row.model for row in report.rows) == ["base", "proactive"]  # one task each
    metric = report.task_metrics["math"]
    for row in report.rows:  # scored on the task metric, or a failure the report counts
        if row.failure is None:
            assert row.turns == 1 and metric in row.metrics, row
            assert all(math.isfinite(value) for value in row.metrics.values()), row
    for model in report.models:
        failures = sum(row.failure is not None for row in report.rows if row.model == model)
        assert report.failed.get(model, {}).get("math", 0) == failures


def test_train_with_config(tmp_path):
    out = run_example(
        "train_with_config.py", "--fast", "--output-dir", str(tmp_path / "runs"), cwd=tmp_path
    )
    run = tmp_path / "runs" / "demo-dpo-math"
    assert "train:" in out and (run / "eval" / "report.md").is_file()
    assert json.loads((run / "train" / "train_result.json").read_text())["global_step"] == 2
    assert "train: 2 steps" in (run / "report.md").read_text()
    evaluation = json.loads((run / "eval" / "report.json").read_text())
    assert evaluation["models"] == ["base", "trained"]
