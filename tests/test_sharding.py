"""Collection across processes and machines: the shard split, shard folders, resume per
shard, merging shard outputs at export, and ``--workers`` through the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from langgraph_collab.collection.records import read_records, write_records
from langgraph_collab.collection.sharding import (
    ShardError,
    check_shard,
    read_shards,
    shard_dir,
    shard_tasks,
)
from langgraph_collab.errors import PermanentError
from langgraph_collab.tasks import load_tasks
from langgraph_collab.testing import ScriptedChatModel
from langgraph_collab.train.__main__ import main
from langgraph_collab.train.config import CollabTrainConfig, ConfigError
from tests.conftest import collect_scripted, scripted_reply
from tests.fake_openai import FakeOpenAI, Reply
from tests.test_export import make_record

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ the split


@pytest.mark.parametrize("n_tasks", [0, 1, 5, 7, 12])
@pytest.mark.parametrize("num_shards", [1, 2, 3, 8])
def test_the_split_is_datasets_shard_and_puts_every_task_in_one_shard(n_tasks, num_shards):
    from datasets import Dataset

    tasks = [f"task-{k}" for k in range(n_tasks)]
    shards = [shard_tasks(tasks, num_shards=num_shards, index=i) for i in range(num_shards)]
    assert [t for shard in shards for t in shard] == tasks  # each once, in order
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    for index, shard in enumerate(shards):
        assert shard == shard_tasks(list(tasks), num_shards=num_shards, index=index)
    if num_shards <= n_tasks:  # HF asks for at least one row per shard; empty shards are fine here
        rows = Dataset.from_dict({"task": tasks})
        assert shards == [rows.shard(num_shards, i)["task"] for i in range(num_shards)]


@pytest.mark.parametrize(
    ("num_shards", "index", "message"),
    [
        (0, 0, "num_shards must be at least 1, got 0"),
        (4, 4, "shard index 4 is out of range for 4 shards: use 0 to 3"),
        (4, -1, "shard index -1 is out of range"),
        (2.0, 0, "num_shards must be a whole number"),
    ],
)
def test_bad_shard_values_are_clear_errors(num_shards, index, message):
    with pytest.raises(ValueError, match=message):
        check_shard(num_shards=num_shards, index=index)
    with pytest.raises(ValueError, match=message):
        collect_scripted("/nonexistent", 2, num_shards=num_shards, shard_index=index)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"num_shards": 0, "stages": "collect"}, "num_shards=0: must be at least 1"),
        (
            {"num_shards": 4, "shard_index": 4, "stages": "collect"},
            r"shard_index=4: must be in 0..3",
        ),
        ({"workers": 0}, "workers=0: must be at least 1"),
        ({"num_shards": 2}, "a shard runs the collect stage only: add --stages collect"),
        ({"num_shards": 2, "workers": 2, "stages": "collect"}, "give --workers or --num-shards"),
    ],
)
def test_bad_shard_options_are_config_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        CollabTrainConfig(**values).validate()


def test_bad_workers_on_the_command_line_exit_2(tmp_path, capsys):
    assert main(["--output-dir", str(tmp_path), "--workers", "0"]) == 2
    assert "workers=0: must be at least 1" in capsys.readouterr().err


# ------------------------------------------------------------------------------ shard folders


def _collect(tmp_path: Path, index: int, **models) -> object:
    return collect_scripted(tmp_path, 5, num_shards=2, shard_index=index, **models)


def _refusing() -> ScriptedChatModel:
    def script(messages):
        raise AssertionError("a recorded shard must not call its models again")

    return ScriptedChatModel(script=script)


def test_each_shard_has_its_own_folder_resumes_alone_and_merges(tmp_path):
    first = _collect(tmp_path, 0)
    folder = tmp_path / "shard-00000-of-00002"
    assert folder == shard_dir(tmp_path, num_shards=2, index=0)
    for name in ("checkpoints.sqlite", "records.jsonl", "summary.json"):
        assert (folder / name).is_file(), name
    assert not (tmp_path / "records.jsonl").exists()
    assert (first.tasks, first.recorded) == (3, 3)

    with pytest.raises(ShardError, match=r"shard 1 of 2: missing \(run it: --num-shards 2 "):
        read_shards(tmp_path)
    with pytest.warns(RuntimeWarning, match="exporting without 1 shards"):
        assert len(read_shards(tmp_path, allow_missing=True)) == 3

    again = _collect(tmp_path, 0, user=_refusing(), assistant=_refusing(), judge=_refusing())
    assert (again.skipped, again.recorded) == (3, 0)  # resumed from its own folder
    assert _collect(tmp_path, 1).recorded == 2
    merged = read_shards(tmp_path)
    assert sorted(r.task.id for r in merged) == [t.id for t in load_tasks("math", limit=5)]


def test_a_shard_that_crashed_shows_unfinished_until_run_again(tmp_path):
    _collect(tmp_path, 0)
    with pytest.raises(PermanentError):  # a longer task list gives shard 0 a new task
        collect_scripted(tmp_path, 7, user=_refusing(), assistant=_refusing(),
                         judge=_refusing(), num_shards=2, shard_index=0)  # fmt: skip
    with pytest.raises(ShardError, match=r"shard 0 of 2: no summary.json \(still running, or"):
        read_shards(tmp_path)


def test_one_shard_keeps_the_plain_layout(tmp_path):
    collect_scripted(tmp_path, candidates=1, num_shards=1, shard_index=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".collect.lock", "checkpoints.sqlite", "records.jsonl", "summary.json", "usage.jsonl"
    ]  # fmt: skip


# ------------------------------------------------------------------------------ merging


def _shard(out: Path, index: int, num_shards: int, *task_ids: str, done: bool = True) -> None:
    folder = shard_dir(out, num_shards=num_shards, index=index)
    write_records([make_record(task_id) for task_id in task_ids], folder / "records.jsonl")
    if done:
        (folder / "summary.json").write_text(json.dumps({"failed": 0}))


def test_a_task_recorded_in_two_shards_is_refused(tmp_path):
    _shard(tmp_path, 0, 2, "a", "b")
    _shard(tmp_path, 1, 2, "b")
    with pytest.raises(ShardError, match=r"task 'b' is recorded in .*shard-00000-of-00002.* and"):
        read_shards(tmp_path)


def test_the_plain_file_and_the_shards_merge(tmp_path):
    write_records([make_record("p")], tmp_path / "records.jsonl")
    _shard(tmp_path, 0, 2, "a")
    _shard(tmp_path, 1, 2, "b", "c")
    assert [r.task.id for r in read_shards(tmp_path)] == ["p", "a", "b", "c"]


def test_unfinished_and_mixed_shards_are_reported(tmp_path):
    _shard(tmp_path, 0, 2, "a")
    _shard(tmp_path, 1, 2, "b", done=False)
    with pytest.raises(ShardError, match=r"shard 1 of 2: no summary.json \(still running, or"):
        read_shards(tmp_path)
    _shard(tmp_path, 0, 3, "c")
    with pytest.raises(ShardError, match="holds shards of 2 and 3 shards"):
        read_shards(tmp_path)


def test_the_export_stage_merges_shards_and_refuses_missing_ones(tmp_path, capsys):
    collect_dir = tmp_path / "t" / "collect"
    _shard(collect_dir, 0, 3, "a", "b")
    _shard(collect_dir, 2, 3, "c")
    argv = ["--name", "t", "--output-dir", str(tmp_path), "--stages", "export"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error: export: ShardError:" in err and "shard 1 of 3: missing" in err
    assert "--allow-missing-shards" in err
    with pytest.warns(RuntimeWarning, match="without 1 shards"):
        assert main([*argv, "--allow-missing-shards"]) == 0
    sft = (tmp_path / "t" / "datasets" / "sft.jsonl").read_text().splitlines()
    assert sorted(json.loads(row)["task_id"] for row in sft) == ["a", "b", "c"]


# ------------------------------------------------------------------------------ --workers


def _healthy(body: dict) -> Reply:
    return scripted_reply(body, end_after=1)


def _workers_argv(tmp_path: Path, server: FakeOpenAI, *extra: str) -> list[str]:
    values = {
        "name": "w", "output-dir": str(tmp_path), "workers": "2", "tasks": "math",
        "train-limit": "5", "user": "openai:fake", "judge": "openai:fake",
        "assistant": "openai:fake", "base-url": server.base_url, "api-key": "sk-test",
        "candidates": "2", "samples": "1", "window": "1", "max-messages": "4",
        "stages": "collect,export",
    }  # fmt: skip
    return [*(p for k, v in values.items() for p in (f"--{k}", v)), *extra]


def test_workers_collect_every_task_once_in_shard_processes_then_export(tmp_path, capsys):
    with FakeOpenAI(_healthy) as server:
        assert main(_workers_argv(tmp_path, server)) == 0, capsys.readouterr().err
    collect_dir = tmp_path / "w" / "collect"
    shards = [shard_dir(collect_dir, num_shards=2, index=i) for i in range(2)]
    counts = [len(read_records(folder / "records.jsonl")) for folder in shards]
    assert counts == [3, 2]
    ids = sorted(r.task.id for r in read_shards(collect_dir))
    assert ids == [t.id for t in load_tasks("math", split="train", limit=5)]
    assert all((folder / "pipeline.sqlite").is_file() for folder in shards)  # their own state
    assert (tmp_path / "w" / "datasets" / "sft").is_dir()
    assert "5/5" in capsys.readouterr().err  # the one bar reached every task


def test_a_failing_worker_fails_the_run_with_its_first_error_line(tmp_path, capsys):
    # A key the API refuses is a credentials error: status 2 in the worker and the run.
    with FakeOpenAI(lambda body: Reply("Incorrect API key provided", status=401)) as server:
        assert main(_workers_argv(tmp_path, server)) == 2
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if line.startswith("error: collect:"))
    assert "WorkerError: collect worker" in line and "of 2 failed (exit status 2)" in line
    assert "error: collect: PermanentError" in line and "401" in line


def _running(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_text():
                pids.append(int(entry.name))
        except OSError:  # a process that ended while we looked
            continue
    return pids


WITH_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)
"""A program's start with SIGINT as Ctrl-C delivers it: a suite run in the background (``make
test &``) starts with SIGINT ignored, which every program it starts inherits and keeps."""


def test_ctrl_c_stops_every_worker(tmp_path):
    started = threading.Event()
    release = threading.Event()

    def responder(body: dict) -> Reply:
        started.set()
        release.wait(timeout=60)  # hold every call until the parent was interrupted
        return _healthy(body)

    with FakeOpenAI(responder) as server:
        argv = _workers_argv(tmp_path, server)
        parent = subprocess.Popen(
            [sys.executable, "-c", WITH_DEFAULT_SIGINT, "-m", "langgraph_collab.train", *argv],
            cwd=ROOT, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
        try:
            assert started.wait(timeout=120), "no worker reached the model"
            parent.send_signal(signal.SIGINT)
            _, err = parent.communicate(timeout=120)
        finally:
            release.set()
            if parent.poll() is None:
                parent.kill()
    assert parent.returncode == 130, err[-2000:]
    assert "error: interrupted" in err
    assert _running(str(tmp_path / "w" / "collect" / "workers.yaml")) == []


def test_the_ray_example_collects_one_shard_per_ray_task_and_merges(tmp_path):
    pytest.importorskip("ray")
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "collect_with_ray.py"), "--model", "scripted",
         "--shards", "2", "--limit", "3", "--out", str(tmp_path / "ray")],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "merged 3 records" in out.stdout
    assert [len(read_records(shard_dir(tmp_path / "ray", num_shards=2, index=i) / "records.jsonl"))
            for i in range(2)] == [2, 1]  # fmt: skip
