"""The pipeline graph and ``python -m langgraph_collab.train`` (tiny model, offline)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver

from langgraph_collab.collection.records import write_records
from langgraph_collab.train.config import CollabTrainConfig
from langgraph_collab.train.pipeline import create_pipeline_graph, run_pipeline
from tests.test_trainers import RECORDS

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]


def tiny(policy_dir: Path, out: Path, **overrides) -> list[str]:
    """CLI flags for a tiny offline run on hand-made records."""
    values = {
        "name": "t", "output-dir": str(out), "policy": str(policy_dir), "max-steps": "2",
        "per-device-train-batch-size": "2", "max-length": "128", "save-steps": "1",
        "learning-rate": "1e-3", **overrides,
    }  # fmt: skip
    return [part for key, value in values.items() for part in (f"--{key}", value)]


def seed_records(out: Path) -> None:
    write_records(RECORDS, out / "t" / "collect" / "records.jsonl")


def test_export_and_train_stages_alone_fill_the_run_directory(policy_dir, tmp_path):
    seed_records(tmp_path)
    config = CollabTrainConfig(
        name="t", output_dir=str(tmp_path), policy=str(policy_dir), stages="export,train,report",
        max_steps=2, per_device_train_batch_size=2, max_length=128, save_steps=1,
    )  # fmt: skip
    state = run_pipeline(config)
    run = tmp_path / "t"
    assert state["exported"] == {"sft": 3, "dpo": 6, "prompts": 6}
    assert state["trained"]["global_step"] == 2
    for path in ("config.yaml", "datasets/dpo", "train/final", "report.md", "pipeline.sqlite"):
        assert (run / path).exists(), path
    report = (run / "report.md").read_text()
    assert "train: 2 steps" in report
    trained, ignored = state["trained"]["trained_tokens"], state["trained"]["ignored_tokens"]
    assert trained > 0 and ignored > 0  # DPO: the replies carry loss, the prompts do not
    assert f"train data: {trained} tokens carry loss (the assistant's), {ignored} ignored" in report


def test_a_stage_without_its_inputs_is_a_clear_error(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "langgraph_collab.train", "--output-dir", str(tmp_path),
         "--stages", "export"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 2 and "run the collect stage first" in out.stderr


def test_a_kill_in_the_trainer_node_resumes_there_from_the_last_checkpoint(policy_dir, tmp_path):
    seed_records(tmp_path)
    flags = tiny(policy_dir, tmp_path, **{"max-steps": "80", "stages": "export,train"})
    cmd = [sys.executable, "-m", "langgraph_collab.train", *flags]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    train = tmp_path / "t" / "train"
    # Kill as soon as the first checkpoint is complete (trainer_state.json is written last),
    # looked for at each progress update the trainer prints: nothing waits on the clock.
    assert proc.stderr is not None
    for _ in proc.stderr:  # text mode: every "\r" progress refresh is a line
        if list(train.glob("checkpoint-*/trainer_state.json")):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted(
        int(p.parent.name.split("-")[1]) for p in train.glob("checkpoint-*/trainer_state.json")
    )
    assert done, "no checkpoint was written before the kill"

    with SqliteSaver.from_conn_string(str(tmp_path / "t" / "pipeline.sqlite")) as saver:
        snapshot = create_pipeline_graph(checkpointer=saver).get_state(
            {"configurable": {"thread_id": "pipeline"}}
        )
    assert snapshot.next == ("train",) and "exported" in snapshot.values

    resumed = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    result = json.loads((train / "train_result.json").read_text())
    assert result["global_step"] == 80
    seen = max(log.get("num_input_tokens_seen", 0) for log in result["log_history"])
    assert 0 < result["tokens"] < seen  # this run trained only what the killed one had not


def test_accelerate_launch_runs_the_train_stage(policy_dir, tmp_path):
    seed_records(tmp_path)
    subprocess.run(
        [sys.executable, "-m", "langgraph_collab.train", *tiny(policy_dir, tmp_path),
         "--stages", "export"],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         "-m", "langgraph_collab.train", *tiny(policy_dir, tmp_path), "--stages", "train"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert (
        json.loads((tmp_path / "t" / "train" / "train_result.json").read_text())["global_step"] == 2
    )
