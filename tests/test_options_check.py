"""Every public entry point checks every option before any model call, with the CLI's
checks (``options_check``): a bad value gives one clear error naming the option, and the
models (fakes that count their calls) are never called. Each call runs in a thread with
a bound, so a setting that used to hang fails here instead of blocking the suite."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest

from langgraph_collab import (
    CollaborativeMiddleware,
    PermanentError,
    Task,
    collect,
    create_collaborative_node,
    create_reward_graph,
    evaluate,
    score_candidates,
)
from langgraph_collab.collection.records import ConversationRecord
from langgraph_collab.collection.rescoring import rescore
from langgraph_collab.options_check import OptionError
from langgraph_collab.reward.score import multiturn_aware_reward
from langgraph_collab.testing import ScriptedChatModel
from langgraph_collab.train.checks import problems
from langgraph_collab.train.config import CollabTrainConfig
from tests.conftest import judge_json, make_user

BOUND_S = 60
HISTORY = [("user", "What is 2 + 2?")]


def models() -> dict[str, ScriptedChatModel]:
    return {
        "user": ScriptedChatModel(script=["Thanks! [[TERMINATE CHAT]]"]),
        "assistant": ScriptedChatModel(script=["It is 4."]),
        "judge": ScriptedChatModel(script=[judge_json()]),
    }


def task(kind: str = "math") -> Task:
    return Task(id="t1", kind=kind, request="What is 2 + 2?", reference="4")


def record(kind: str = "math") -> ConversationRecord:
    messages = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    return ConversationRecord(task=task(kind), messages=messages)


def call(entry: str, roles: dict[str, Any], options: dict[str, Any], tmp_path) -> Any:
    """Call ``entry`` with the fake ``roles`` and ``options`` (a ``kind`` option sets the
    task kind); a constructed node or middleware is invoked once, as a graph would."""
    options = dict(options)
    kind = options.pop("kind", "math")
    user, assistant, judge = roles["user"], roles["assistant"], roles["judge"]
    mr = {"task": task(kind), "user": user, "assistant": assistant, "judge": judge}
    if entry == "collect":
        return collect([task(kind)], user=user, assistant=assistant, judge=judge,
                       out_dir=tmp_path / "run", **{"progress": False, **options})  # fmt: skip
    if entry == "score_candidates":
        return score_candidates(HISTORY, ["4", "Why?"], **mr, **options)
    if entry == "multiturn_aware_reward":
        return multiturn_aware_reward(HISTORY, "4", **mr, **options)
    if entry == "create_reward_graph":
        graph = create_reward_graph(user=user, assistant=assistant, judge=judge, **options)
        return graph.invoke({"messages": HISTORY, "candidates": ["4"], "task": task(kind)})
    if entry == "evaluate":
        return evaluate([task(kind)], assistants={"base": assistant}, user=user, judge=judge,
                        progress=options.pop("progress", False), **options)  # fmt: skip
    if entry == "rescore":
        return rescore([record(kind)], user=user, assistant=assistant, judge=judge, **options)
    if entry == "node":
        node = create_collaborative_node(
            assistant, user=user, judge=judge, task=task(kind), **options
        )
        return node.invoke({"messages": HISTORY})
    if entry == "middleware":
        return CollaborativeMiddleware(user=user, judge=judge, **options)
    raise AssertionError(entry)


def bounded(function: Any) -> BaseException | None:
    """Run ``function`` in a thread, bounded: the error it raised, or None."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            function()
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND_S)
    assert outcome, f"still running after {BOUND_S}s: a hang"
    return outcome[0]


MR = ["collect", "score_candidates", "multiturn_aware_reward", "create_reward_graph", "rescore"]
LOOKAHEAD = ["node", "middleware"]
EVERY = [*MR, *LOOKAHEAD]
CASES = [
    # (entry points, options, what the one error must say)
    (EVERY, {"samples": "3"}, "samples='3': must be a whole number (int), not str"),
    (EVERY, {"samples": 2.5}, "samples=2.5: must be a whole number (int), not float"),
    (EVERY, {"samples": 0}, "samples=0: must be at least 1"),
    (EVERY, {"samples": True}, "samples=True: must be a whole number"),
    (EVERY, {"window": -1}, "window=-1: must be at least 0"),
    (EVERY, {"token_lambda": -0.1}, "token_lambda=-0.1: must be >= 0.0"),
    (EVERY, {"token_lambda": math.nan}, "token_lambda=nan: must be a finite number"),
    (EVERY, {"token_lambda": "0.1"}, "token_lambda='0.1': must be a number"),
    (EVERY, {"metrics": ["acuracy"]}, "unknown metrics ['acuracy']; use one of"),
    (EVERY, {"metrics": "accuracy"}, "metrics='accuracy': give a list"),
    (EVERY, {"weights": {"acuracy": 1.0}}, "did you mean 'accuracy'?"),
    (EVERY, {"weights": {"accuracy": -1.0}}, "weights['accuracy']=-1.0: must be >= 0.0"),
    (EVERY, {"weights": [1.0]}, "weights=[1.0]: must be a mapping"),
    ([*MR, "node"], {"kind": "maths"}, "unknown task kind 'maths'; did you mean 'math'?"),
    (
        ["collect", "score_candidates"],
        {"kind": "chat", "weights": {"accuracy": 2.0}},
        "unknown components ['accuracy']",
    ),
    (
        ["score_candidates", "multiturn_aware_reward", "rescore", *LOOKAHEAD],
        {"max_concurrency": 0},
        "max_concurrency=0: must be at least 1",
    ),
    (["score_candidates", "multiturn_aware_reward"], {"timeout": -1}, "timeout=-1: must be >="),
    (
        ["collect", "create_reward_graph", "score_candidates"],
        {"fidelity": "strict"},
        "fidelity='strict': must be True, False or a FidelityGuard",
    ),
    (["collect", "create_reward_graph"], {"grounded_stop": "no"}, "grounded_stop='no'"),
    (["collect", "create_reward_graph"], {"adaptive": 3}, "adaptive=3: must be None or"),
    (["collect", "create_reward_graph"], {"token_counter": 5}, "token_counter=5: must be a"),
    (["collect", *LOOKAHEAD, "rescore"], {"candidates": -1}, "candidates=-1: must be at least"),
    (["collect"], {"max_concurrent_tasks": 0}, "max_concurrent_tasks=0: must be at least 1"),
    (["collect"], {"max_concurrent_tasks": -1}, "max_concurrent_tasks=-1: must be at least 1"),
    (["collect"], {"max_concurrent_tasks": "4"}, "max_concurrent_tasks='4': must be a whole"),
    (["collect"], {"max_model_calls": 0}, "max_model_calls=0: must be at least 1"),
    (["collect"], {"max_repeated_failures": 0}, "max_repeated_failures=0: must be at least 1"),
    (["collect"], {"proactive_share": 2}, "proactive_share=2: must be in [0, 1]"),
    (["collect"], {"max_messages": 1}, "max_messages=1: must be at least 2"),
    (["collect"], {"checkpoint_samples": "yes"}, "checkpoint_samples='yes': must be True"),
    (["collect"], {"progress": "bar"}, "progress='bar': must be True, False or a progress"),
    (
        ["collect"],
        {"prices": {"user": (1.0, 2.0)}},
        "prices: unknown roles ['user']; use one of simulated_user, assistant, judge, "
        "fidelity_judge (did you mean 'simulated_user'?)",
    ),
    (["collect"], {"prices": {"jugde": (1.0, 2.0)}}, "did you mean 'judge'?"),
    (["collect"], {"prices": {"judge": (1.0,)}}, "prices['judge']=(1.0,): must be (input, "),
    (["evaluate"], {"max_turns": 0}, "max_turns=0: must be at least 1"),
    (["evaluate"], {"max_concurrency": 0}, "max_concurrency=0: must be at least 1"),
    (["evaluate"], {"max_concurrency": "4"}, "max_concurrency='4': must be a whole number"),
    (["evaluate"], {"kind": "maths"}, "unknown task kind 'maths'; did you mean 'math'?"),
    (["evaluate"], {"progress": "yes"}, "progress='yes': must be True or False"),
]
TABLE = [(entry, options, message) for entries, options, message in CASES for entry in entries]


@pytest.mark.parametrize(("entry", "options", "message"), TABLE)
def test_a_bad_option_is_one_clear_error_before_any_model_call(tmp_path, entry, options, message):
    roles = models()
    error = bounded(lambda: call(entry, roles, options, tmp_path))
    assert isinstance(error, OptionError), repr(error)
    assert isinstance(error, ValueError) and isinstance(error, TypeError)  # either catches it
    assert message in str(error), str(error)
    assert len(str(error).split("; ")) <= 2 or "use one of" in str(error)  # one problem
    assert error.__context__ is None  # nothing unrelated chained to it
    assert [model.calls for model in roles.values()] == [0, 0, 0]
    assert not (tmp_path / "run").exists()  # nor anything written


def test_the_cli_and_the_api_say_the_same(tmp_path):
    cli = problems(CollabTrainConfig(samples=0, max_concurrent_tasks=0, proactive_share=2))
    roles = models()
    for line in cli:
        name, value = line.split("=", 1)[0], int(line.split("=", 1)[1].split(":")[0])
        api = bounded(lambda n=name, v=value: call("collect", roles, {n: v}, tmp_path))
        assert str(api) == line


def test_good_values_pass(tmp_path):
    roles = models()
    good = {"samples": 1, "window": 1, "token_lambda": 0.0, "weights": {"accuracy": 2.0}}
    assert bounded(lambda: call("score_candidates", roles, good, tmp_path)) is None
    own = {"kind": "my-kind", "metrics": ["interactivity"], "samples": 1, "window": 1}
    assert bounded(lambda: call("score_candidates", roles, own, tmp_path)) is None


def test_a_kind_of_your_own_gets_the_chat_defaults_with_a_warning(tmp_path):
    roles = models()
    with pytest.warns(RuntimeWarning, match="'support' is none of .*scored as chat"):
        rewards = call("score_candidates", roles, {"kind": "support", "samples": 1}, tmp_path)
    assert set(rewards[0].components) == {"interactivity", "token_penalty", "tokens"}


@pytest.mark.parametrize("returned", [None, 42, ["a list"]])
def test_a_callable_returning_the_wrong_type_is_a_bug_raised_at_once(returned):
    calls = []

    def user(state):
        calls.append(state)
        return returned

    error = bounded(
        lambda: score_candidates(
            HISTORY,
            ["4"],
            task=task(),
            user=user,
            assistant=models()["assistant"],
            judge=models()["judge"],
            samples=1,
            window=1,
        )
    )
    assert isinstance(error, PermanentError) and "simulated_user" in str(error), repr(error)
    assert "must return a str or an AIMessage" in str(error)
    assert len(calls) == 1  # not retried


def test_a_judge_callable_returning_none_is_a_bug_raised_at_once():
    calls = []

    def judge(state):
        calls.append(state)

    error = bounded(
        lambda: score_candidates(
            HISTORY,
            ["4"],
            task=task(),
            user=models()["user"],
            assistant=models()["assistant"],
            judge=judge,
            samples=1,
            window=1,
        )
    )
    assert isinstance(error, PermanentError) and "judge" in str(error), repr(error)
    assert len(calls) == 1


def test_errors_from_the_sync_api_carry_no_unrelated_context(tmp_path):
    def assistant(messages):
        raise KeyError("a bug in the assistant")

    for run in (
        lambda: score_candidates(HISTORY, ["4"], task=task(), user=models()["user"],
                                 assistant=models()["assistant"], judge=assistant, samples=1,
                                 window=1),
        lambda: collect([task()], user=make_user(stop_after=1), assistant=assistant,
                        judge=models()["judge"], out_dir=tmp_path / "c", progress=False,
                        samples=1, window=1),
    ):  # fmt: skip
        error = bounded(run)
        assert isinstance(error, PermanentError), repr(error)
        chain, seen = [], error
        while seen is not None:
            chain.append(seen)
            seen = seen.__cause__ or seen.__context__
        assert not any("no running event loop" in str(e) for e in chain), chain
