"""Adaptive forward sampling (racing) and the MR deadline that keeps finished futures."""

from __future__ import annotations

import asyncio
import math
import random

import pytest
from langchain_core.language_models import BaseChatModel

from langgraph_collab import Task, ascore_candidates, score_candidates
from langgraph_collab.errors import is_budget_cut
from langgraph_collab.reward.adaptive import AdaptiveSampling
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import MetadataModel, collect_scripted

TASK = Task(id="t", kind="math", request="What is 6 x 7?", reference="42")
HISTORY = [("user", "Help me with a product")]
GRADES = "ABC"


def verdict(grade: str, correct: bool) -> str:
    return (
        f'{{"thought": "t", "final_artifact": "{42 if correct else 41}", '
        f'"interactivity": "{grade}", "correct": {"true" if correct else "false"}}}'
    )


def quality_judge(quality: list[float], seed: int = 0) -> MetadataModel:
    """A judge whose verdict on candidate k's sample s is drawn with probability
    ``quality[k]`` of being right and graded A, seeded per (k, s): the same sample gets the
    same verdict whatever else ran."""

    def reply(meta: dict) -> str:
        k, s = meta["candidate_index"], meta["sample_index"]
        rng = random.Random(f"{seed}/{k}/{s}")
        right = rng.random() < quality[k]
        return verdict("A" if right else GRADES[rng.randrange(1, 3)], right)

    return MetadataModel(reply=reply)


def roles(judge: BaseChatModel) -> dict:
    return {
        "user": ScriptedChatModel(script=["Could you say more?"]),
        "assistant": ScriptedChatModel(script=["Here is more."]),
        "judge": judge,
    }


CANDIDATES = ["Reply A", "Reply B", "Reply C"]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"first": 1}, "first="), ({"z": 0}, "z="), ({"tolerance": -1}, "tolerance="),
        ({"min_spread": -0.1}, "min_spread="), ({"prior_weight": math.inf}, "prior_weight="),
    ],
)  # fmt: skip
def test_settings_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        AdaptiveSampling(**options)


def test_a_clear_loser_closes_and_a_close_race_stays_open():
    rule = AdaptiveSampling(first=2, z=2.0)
    rewards = [[1.0, 0.9], [0.1, 0.0], [0.9, 1.0]]
    assert rule.open(rewards, attempted=[2, 2, 2], samples=6) == [True, False, True]


def test_a_clear_winner_closes_every_candidate():
    rule = AdaptiveSampling(first=2)
    assert rule.open([[2.0, 2.0], [0.0, 0.0]], attempted=[2, 2], samples=6) == [False, False]


def test_agreeing_first_futures_do_not_close_every_candidate():
    # A 0/1 metric and a greedy judge: every candidate's first two rewards agree.
    agreeing = [[1.2, 1.2], [1.0, 1.0], [1.0, 1.0]]
    assert AdaptiveSampling().open(agreeing, attempted=[2, 2, 2], samples=6) == [True] * 3
    without_prior = AdaptiveSampling(min_spread=0)  # point bounds: all close at once
    assert without_prior.open(agreeing, attempted=[2, 2, 2], samples=6) == [False] * 3
    # the prior fades: the same gap, seen in every one of six futures, is settled
    settled = [[1.2] * 5, [1.0] * 5, [1.0] * 5]
    assert AdaptiveSampling().open(settled, attempted=[5, 5, 5], samples=6) == [False] * 3


def test_no_candidate_goes_past_samples_and_masked_ones_keep_trying():
    rule = AdaptiveSampling(first=2)
    assert rule.open([[1.0, 0.0], []], attempted=[3, 2], samples=3) == [False, True]
    assert rule.open([[], []], attempted=[2, 3], samples=3) == [True, False]


def test_tolerance_closes_a_precise_candidate():
    rule = AdaptiveSampling(first=2, tolerance=0.2)
    rewards = [[1.0, 0.9, 1.1], [1.0, 0.8, 1.2]]
    assert rule.open(rewards, attempted=[3, 3], samples=8) == [False, False]
    assert AdaptiveSampling(first=2).open(rewards, attempted=[3, 3], samples=8) == [True, True]


def test_clear_candidates_stop_at_first_and_score_as_the_full_run():
    judge = MetadataModel(
        reply=lambda meta: verdict(*(("A", True) if meta["candidate_index"] == 0 else ("C", False)))
    )
    full = score_candidates(HISTORY, CANDIDATES, task=TASK, samples=6, window=1, **roles(judge))
    calls_full = judge.calls
    judge.calls = 0
    raced = score_candidates(
        HISTORY, CANDIDATES, task=TASK, samples=6, window=1,
        adaptive=AdaptiveSampling(first=2), **roles(judge),
    )  # fmt: skip
    assert [r.n_valid for r in full] == [6, 6, 6]
    assert [r.n_valid for r in raced] == [2, 2, 2]
    assert judge.calls == calls_full // 3
    assert [r.mean for r in raced] == pytest.approx([r.mean for r in full])
    assert [s.sample_index for s in raced[0].samples] == [0, 1]


@pytest.mark.parametrize("seed", range(4))
def test_noisy_races_stay_within_samples_with_contiguous_futures(seed):
    judge = quality_judge([0.5, 0.6, 0.4], seed=seed)
    rewards = score_candidates(
        HISTORY, CANDIDATES, task=TASK, samples=5, window=1,
        adaptive=AdaptiveSampling(first=2), **roles(judge),
    )  # fmt: skip
    for reward in rewards:
        assert 2 <= len(reward.samples) <= 5 and reward.n_failed == 0
        assert [s.sample_index for s in reward.samples] == list(range(len(reward.samples)))
    assert judge.calls == sum(len(r.samples) for r in rewards)


def test_the_same_samples_give_the_same_values_raced_or_not():
    """Racing only decides how many futures run, never which values they give: the raced
    MR of each candidate is the mean of the full run's first n samples."""
    full = score_candidates(
        HISTORY, CANDIDATES, task=TASK, samples=6, window=1, **roles(quality_judge([0.9, 0.2, 0.5]))
    )
    raced = score_candidates(
        HISTORY, CANDIDATES, task=TASK, samples=6, window=1,
        adaptive=AdaptiveSampling(first=2), **roles(quality_judge([0.9, 0.2, 0.5])),
    )  # fmt: skip
    for f, r in zip(full, raced, strict=True):
        n = len(r.samples)
        assert r.mean == pytest.approx(sum(s.reward for s in f.samples[:n]) / n)


def test_async_races_like_sync():
    options = dict(task=TASK, samples=6, window=1, adaptive=AdaptiveSampling(first=2))
    sync = score_candidates(HISTORY, CANDIDATES, **options, **roles(quality_judge([0.9, 0.1, 0.5])))
    run = ascore_candidates(HISTORY, CANDIDATES, **options, **roles(quality_judge([0.9, 0.1, 0.5])))
    asynchronous = asyncio.run(run)
    assert [len(r.samples) for r in sync] == [len(r.samples) for r in asynchronous]
    assert [r.mean for r in sync] == pytest.approx([r.mean for r in asynchronous])


def test_a_deadline_keeps_the_finished_futures_of_a_cut_candidate():
    """Candidate 1's third future hangs: at the deadline it is abandoned and masked as a
    budget cut; its two finished futures still make its MR (n_valid 2), never a None."""

    async def run() -> list:
        user = MetadataModel(
            reply=lambda m: (
                None
                if (m["candidate_index"], m["sample_index"]) == (1, 2)
                else "Could you say more?"
            )
        )
        judge = quality_judge([1.0, 1.0])
        return await ascore_candidates(
            HISTORY, CANDIDATES[:2], task=TASK, samples=3, window=1, timeout=1.0,
            user=user, assistant=ScriptedChatModel(script=["Here is more."]), judge=judge,
        )  # fmt: skip

    first, second = asyncio.run(run())
    assert (first.n_valid, first.n_failed) == (3, 0)
    assert (second.n_valid, second.n_failed) == (2, 1) and second.mean is not None
    cut = [s for s in second.samples if s.error]
    assert [s.sample_index for s in cut] == [2] and is_budget_cut(cut[0].error)


def test_a_spent_deadline_starts_no_future_and_raises_nothing():
    judge = quality_judge([1.0])
    [reward] = score_candidates(
        HISTORY, CANDIDATES[:1], task=TASK, samples=2, window=1, timeout=0, **roles(judge)
    )
    assert reward.mean is None and reward.n_failed == 2 and judge.calls == 0
    assert all(is_budget_cut(s.error) for s in reward.samples)


def test_a_negative_timeout_is_refused():
    with pytest.raises(ValueError, match="timeout"):
        score_candidates(
            HISTORY, CANDIDATES[:1], task=TASK, timeout=-1, **roles(quality_judge([1.0]))
        )


def test_collection_races_candidates_when_asked(tmp_path):
    """In collection, a clearly better candidate ends sampling after `first` futures."""
    from langgraph_collab.collection.records import read_records

    def reply(meta: dict) -> str:
        good = meta.get("candidate_index") == 0
        return verdict(*(("A", True) if good else ("C", False)))

    task = Task(id="race", kind="math", request="What is 6 x 7?", reference="42")
    user = ScriptedChatModel(script=["What is 6 x 7?", "Thanks [[TERMINATE CHAT]]"])
    summary = collect_scripted(
        tmp_path, [task], user=user, assistant=ScriptedChatModel(script=["It is 42."]),
        judge=MetadataModel(reply=reply),
        samples=5, max_messages=4, grounded_stop=False, adaptive=AdaptiveSampling(),
    )  # fmt: skip
    assert summary.recorded == 1
    [record] = read_records(tmp_path / "records.jsonl")
    for turn in record.turns:
        assert [len(c.samples) for c in turn.candidates] == [2, 2]


def test_the_training_cli_takes_adaptive_z():
    from langgraph_collab.train.config import ConfigError, load_config

    assert load_config([]).adaptive_z is None
    assert load_config(["--adaptive-z", "1.5"]).adaptive_z == 1.5
    with pytest.raises(ConfigError, match="adaptive_z"):
        load_config(["--adaptive-z", "0"], exit_on_error=False)
