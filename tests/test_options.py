"""RewardOptions and LookaheadOptions: one value, checked once, accepted by every entry point."""

import dataclasses

import pytest

from langgraph_collab import (
    LookaheadOptions,
    OptionError,
    RewardOptions,
    Task,
    create_reward_graph,
    score_candidates,
)
from langgraph_collab._runtime import graph_cache
from langgraph_collab.reward.adaptive import AdaptiveSampling
from langgraph_collab.reward.fidelity import create_fidelity_guard
from langgraph_collab.reward.score import reward_graph
from tests.conftest import make_assistant, make_judge, make_user

TASK = Task(id="t", kind="math", request="What is 2 + 2?", reference="4")
HISTORY = [("user", "What is 2 + 2?")]


def test_equal_options_are_one_value_and_one_key():
    a = RewardOptions(samples=2, weights={"accuracy": 2.0}, metrics=["accuracy"])
    b = RewardOptions(samples=2, weights={"accuracy": 2.0}, metrics=("accuracy",))
    assert a == b and hash(a) == hash(b) and a.key() == b.key()
    assert a != a.with_overrides(samples=3)
    guard = create_fidelity_guard(retries=1)
    assert RewardOptions(fidelity=guard).key() == RewardOptions(fidelity=guard).key()


def test_options_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RewardOptions().samples = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"samples": 0}, "samples"),
        ({"window": -1}, "window"),
        ({"token_lambda": -1e-4}, "token_lambda"),
        ({"metrics": ["acuracy"]}, "accuracy"),
        ({"weights": {"acuracy": 1.0}}, "accuracy"),
        ({"fidelity": "yes"}, "fidelity"),
        ({"adaptive": 1.0}, "adaptive"),
        ({"grounded_stop": "no"}, "grounded_stop"),
    ],
)
def test_a_bad_value_is_one_clear_error_when_the_options_are_made(changes, named):
    with pytest.raises(OptionError, match=named):
        RewardOptions(**changes)


def test_a_misspelt_keyword_gets_a_did_you_mean_at_every_entry_point():
    roles = {"user": make_user(), "assistant": make_assistant(), "judge": make_judge()}
    with pytest.raises(OptionError, match="did you mean 'samples'"):
        score_candidates(HISTORY, ["4"], task=TASK, **roles, sample=2)
    with pytest.raises(OptionError, match="did you mean 'window'"):
        create_reward_graph(**roles, windw=1)
    with pytest.raises(OptionError, match="did you mean 'candidates'"):
        LookaheadOptions.of(None, candidate=2)


def test_keywords_override_the_options_object():
    roles = {"user": make_user(stop_after=1), "assistant": make_assistant(), "judge": make_judge()}
    options = RewardOptions(samples=3, window=1)
    rewards = score_candidates(HISTORY, ["4", "Four?"], task=TASK, **roles, options=options)
    assert [r.n_valid for r in rewards] == [3, 3]
    rewards = score_candidates(
        HISTORY, ["4", "Four?"], task=TASK, **roles, options=options, samples=2
    )
    assert [r.n_valid for r in rewards] == [2, 2]


def test_the_graph_cache_is_keyed_by_the_options_value():
    roles = {"user": make_user(), "assistant": make_assistant(), "judge": make_judge()}
    graph_cache.clear()
    first = reward_graph(**roles, options=RewardOptions(samples=2, weights={"accuracy": 1.0}))
    again = reward_graph(**roles, options=RewardOptions(samples=2, weights={"accuracy": 1.0}))
    other = reward_graph(**roles, options=RewardOptions(samples=3, weights={"accuracy": 1.0}))
    assert first is again and other is not first


def test_lookahead_options_hold_the_mr_options_with_their_own_defaults():
    options = LookaheadOptions()
    assert (options.reward.samples, options.reward.window) == (2, 1)
    options = LookaheadOptions.of(options, candidates=2, samples=4, adaptive=AdaptiveSampling())
    assert options.candidates == 2 and options.reward.samples == 4
    assert options.reward.window == 1 and options.reward.adaptive == AdaptiveSampling()
    with pytest.raises(OptionError, match="fork"):
        LookaheadOptions(fork="threads")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="candidates"):
        LookaheadOptions(candidates=0)
    with pytest.raises(OptionError, match="RewardOptions"):
        LookaheadOptions(reward={"samples": 2})  # type: ignore[arg-type]


def test_an_options_object_of_the_wrong_type_is_refused():
    with pytest.raises(OptionError, match="must be a RewardOptions"):
        RewardOptions.of({"samples": 2})  # type: ignore[arg-type]
