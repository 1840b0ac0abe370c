"""collect(checkpoint_samples=...): the forward samples that finished before an interruption
survive it only when they are checkpointed; a clean run records the same either way."""

from __future__ import annotations

import asyncio

import pytest
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from pydantic import PrivateAttr

from langgraph_collab.collection.graph import create_collection_graph
from langgraph_collab.collection.records import read_records
from langgraph_collab.errors import PermanentError
from langgraph_collab.tasks import load_tasks
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import collect_scripted, judge_json, make_judge, make_user

CANDIDATES, SAMPLES = 2, 2  # the first turn's forward samples: 4, one judge call each


class Stopped(Exception):
    """The interruption injected into a run (a permanent error: collect stops at once)."""


class StoppingJudge(ScriptedChatModel):
    """A judge whose call number ``stop_at`` waits for ``ready`` (when given), then raises."""

    stop_at: int = 0
    _ready: asyncio.Event | None = PrivateAttr(default=None)

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
        if self.calls + 1 != self.stop_at:
            return await super()._agenerate(messages, stop, run_manager, **kwargs)
        self.calls += 1
        if self._ready is not None:
            await self._ready.wait()
        raise Stopped(f"stopped at judge call {self.stop_at}")


def assistant() -> ScriptedChatModel:
    """Distinct candidates (the proactive one has a system prompt), none a number."""

    def script(messages):
        return "Which part is unclear?" if messages[0].type == "system" else "Add them up."

    return ScriptedChatModel(script=script)


def run(out, tasks, judge, checkpoint_samples):
    """Collect ``tasks`` into ``out`` with ``judge``, two user turns a conversation."""
    return collect_scripted(
        out, tasks, user=make_user(stop_after=2), assistant=assistant(), judge=judge,
        candidates=CANDIDATES, samples=SAMPLES, max_concurrent_tasks=1,
        checkpoint_samples=checkpoint_samples,
    )  # fmt: skip


def content(record) -> dict:
    """A record without its per-run parts (run ids, usage and the calls redone)."""
    data = record.model_dump(mode="json", exclude={"usage", "metadata"})
    for turn in data["turns"]:
        for candidate in turn["candidates"]:
            candidate.pop("run_id")
    return data


def samples_saved(monkeypatch, n: int) -> asyncio.Event:
    """An event set once ``n`` forward samples' results are in the checkpoint database."""
    event, saved = asyncio.Event(), []
    original = AsyncSqliteSaver.aput_writes

    async def aput_writes(self, config, writes, task_id, task_path=""):
        await original(self, config, writes, task_id, task_path)
        saved.extend(channel for channel, _ in writes if channel == "samples")
        if len(saved) >= n:
            event.set()

    monkeypatch.setattr(AsyncSqliteSaver, "aput_writes", aput_writes)
    return event


@pytest.mark.parametrize("checkpoint_samples", [True, False])
def test_an_interrupted_turn_redoes_only_the_samples_it_did_not_save(
    tmp_path, monkeypatch, checkpoint_samples
):
    tasks = load_tasks("math", limit=1)
    reference = make_judge()
    run(tmp_path / "clean", tasks, reference, checkpoint_samples)
    (clean,) = read_records(tmp_path / "clean" / "records.jsonl")

    # The first turn's last forward sample is stopped at its judge call; with checkpointed
    # samples, only once the other three are saved (without, none of them is).
    last = CANDIDATES * SAMPLES
    stopping = StoppingJudge(script=[judge_json()], stop_at=last)
    if checkpoint_samples:
        stopping._ready = samples_saved(monkeypatch, last - 1)
    out = tmp_path / "stopped"
    with pytest.raises(PermanentError) as raised:
        run(out, tasks, stopping, checkpoint_samples)
    assert isinstance(raised.value.__cause__, Stopped)
    assert not (out / "records.jsonl").exists()

    resumed_judge = make_judge()
    run(out, tasks, resumed_judge, checkpoint_samples)
    (record,) = read_records(out / "records.jsonl")
    assert content(record) == content(clean)
    redone = last if not checkpoint_samples else 1  # every sample, or only the stopped one
    assert resumed_judge.calls == reference.calls - last + redone
    # Usage counts every call made for the record, in both runs (the run folder's call
    # ledger); the calls whose results the stop lost are counted as redone.
    assert record.usage["judge"].calls == stopping.calls + resumed_judge.calls
    assert record.metadata["calls_redone"] > 0


def test_a_clean_run_records_the_same_with_or_without_checkpointed_samples(tmp_path):
    tasks = load_tasks("math", limit=2)
    records = {}
    for flag in (True, False):
        run(tmp_path / str(flag), tasks, make_judge(), flag)
        records[flag] = read_records(tmp_path / str(flag) / "records.jsonl")
    assert [content(r) for r in records[True]] == [content(r) for r in records[False]]
    assert [r.usage for r in records[True]] == [r.usage for r in records[False]]


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_checkpoint_samples_takes_a_bool(tmp_path, bad):
    with pytest.raises(TypeError, match="checkpoint_samples must be True or False"):
        create_collection_graph(
            user=make_user(), assistant=assistant(), judge=make_judge(), checkpoint_samples=bad
        )
    with pytest.raises(TypeError, match="checkpoint_samples"):
        run(tmp_path, 1, make_judge(), bad)


def test_the_training_cli_takes_the_option(tmp_path):
    from langgraph_collab.train.config import ConfigError, load_config

    assert load_config([]).checkpoint_samples is False
    assert load_config(["--checkpoint-samples"]).checkpoint_samples is True
    (tmp_path / "run.yaml").write_text("checkpoint_samples: perhaps\n")
    with pytest.raises(ConfigError, match="checkpoint_samples"):
        load_config(["--config", str(tmp_path / "run.yaml")], exit_on_error=False)
