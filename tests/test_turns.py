"""The conversation's turns run as a graph or as a plain loop, with the same behaviour: the
loop is what forward sampling runs by default (``create_reward_graph(subgraph=False)``)."""

import asyncio
import itertools

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage

from langgraph_collab import (
    PermanentError,
    Task,
    ascore_candidates,
    create_assistant,
    create_judge,
    create_reward_graph,
    score_candidates,
)
from langgraph_collab._runtime.plain_loop import PlainLoop
from langgraph_collab.errors import Backoff
from langgraph_collab.reward.conversation import create_conversation_turns
from langgraph_collab.reward.fidelity import FidelityGuard
from langgraph_collab.roles.judge import JudgeReply
from langgraph_collab.roles.structured import StructuredOutput
from langgraph_collab.state import ConversationState, FidelityCounts
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import judge_json, make_assistant, make_judge, make_user

TASK = Task(request="Plan a trip")
MATH = Task(id="dice", kind="math", request="Chance that two dice add to 7?", reference="1/6")


def timing_out(messages):
    raise TimeoutError("model timed out")


def drifting_then_fine():
    """A user whose every other reply drifts into the assistant's role."""
    replies = itertools.cycle(["Certainly! How can I help?", "and then?"])
    return ScriptedChatModel(script=lambda messages: next(replies))


SCENARIOS = {
    "the user stops": (lambda: {"user": make_user(stop_after=2)}, {"messages": []}),
    "the budget in state": (lambda: {"max_turns": 9}, {"messages": [], "max_turns": 2}),
    "the assistant is due": (lambda: {}, {"messages": [HumanMessage("hello")]}),
    "no budget": (lambda: {}, {"messages": [AIMessage("hi")], "max_turns": 0}),
    "an empty user": (lambda: {"user": ScriptedChatModel(script=["  "])}, {"messages": []}),
    "fidelity rejections": (lambda: {"user": drifting_then_fine()}, {"messages": []}),
    "the guard gives up": (
        lambda: {
            "user": ScriptedChatModel(script=["Certainly! How can I help?"]),
            "fidelity": FidelityGuard(retries=1),
        },
        {"messages": []},
    ),
    "a transient failure": (
        lambda: {"assistant": create_assistant(timing_out, backoff=Backoff(base=0.001))},
        {"messages": []},
    ),
    "the goal is met": (
        lambda: {
            "user": ScriptedChatModel(script=lambda m: "and then?"),
            "assistant": ScriptedChatModel(script=lambda m: "It is $\\boxed{\\frac{1}{6}}$."),
            "grounded_stop": True,
        },
        {"messages": [], "task": MATH},
    ),
}


def build(options: dict):
    defaults = {"user": make_user(), "assistant": make_assistant(), "max_turns": 3,
                "fidelity": True, "grounded_stop": False}  # fmt: skip
    return create_conversation_turns(**(defaults | options))


def outcome(state: dict) -> dict:
    """What a run decided, without message ids (each run makes its own)."""
    counts = state.get("fidelity")
    return {
        "messages": [(m.type, m.content) for m in state["messages"]],
        **{key: state.get(key) for key in ("turn", "done", "failure", "stop_reason")},
        "fidelity": (counts.kept, counts.rejected) if counts else None,
    }


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_loop_decides_what_the_graph_decides(scenario):
    options, state = SCENARIOS[scenario]
    state = {"task": TASK, **state}
    by_graph = outcome(build(options()).graph().invoke(state))
    by_loop = outcome(build(options()).run(state))
    assert by_loop == by_graph
    assert by_graph["messages"] or scenario in ("an empty user", "the guard gives up")


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_the_async_loop_decides_what_the_async_graph_decides(scenario):
    options, state = SCENARIOS[scenario]
    state = {"task": TASK, **state}
    by_graph = outcome(await build(options()).graph().ainvoke(state))
    by_loop = outcome(await build(options()).arun(state))
    assert by_loop == by_graph


def test_a_bug_raises_from_the_loop_as_from_the_graph():
    def buggy(messages):
        return messages.no_such_method()

    turns = build({"assistant": buggy})
    with pytest.raises(PermanentError, match=r"assistant \(buggy\): AttributeError"):
        turns.run({"messages": [], "task": TASK})


def test_the_plain_loop_applies_the_state_reducers():
    merged = PlainLoop(ConversationState, nodes={}, routes={}, first=lambda s: "").merged
    state = merged({}, {"messages": [("user", "hi")], "turn": 0})
    state = merged(state, {"messages": [AIMessage("hello")], "turn": 1,
                           "fidelity": FidelityCounts(kept=1)})  # fmt: skip
    state = merged(state, {"fidelity": FidelityCounts(rejected={"garbled": 2})})
    assert [m.type for m in state["messages"]] == ["human", "ai"]
    assert all(m.id for m in state["messages"])  # as add_messages gives them in the graph
    assert state["turn"] == 1
    assert state["fidelity"] == FidelityCounts(kept=1, rejected={"garbled": 2})


def mr(subgraph: bool) -> list:
    graph = create_reward_graph(
        user=make_user(stop_after=1), assistant=make_assistant(), judge=make_judge(),
        samples=2, window=2, subgraph=subgraph,
    )  # fmt: skip
    candidates = ["Sure: 1/6", "Do you mean two fair dice?"]
    state = {"messages": [("user", "dice?")], "candidates": candidates, "task": MATH}
    return graph.invoke(state)["rewards"]


def test_forward_samples_score_the_same_as_a_loop_or_as_subgraphs():
    def summary(rewards):
        return [(r.mean, r.n_valid, r.stop_reasons, r.components) for r in rewards]

    assert summary(mr(subgraph=False)) == summary(mr(subgraph=True))


class Runs(BaseCallbackHandler):
    """Each run's name and its parent's name."""

    def __init__(self) -> None:
        self.names: dict = {}
        self.parents: list[tuple[str, str | None]] = []

    def _start(self, name, run_id, parent_run_id) -> None:
        self.names[run_id] = name
        self.parents.append((name, self.names.get(parent_run_id)))

    def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, **kwargs):
        self._start(kwargs.get("name"), run_id, parent_run_id)

    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, **kw):
        self._start(kw.get("name") or "chat_model", run_id, parent_run_id)


def test_a_looped_future_traces_each_turn_and_the_judge_under_its_sample_run():
    runs = Runs()
    score_candidates(
        [("user", "dice?")], ["1/6"], task=MATH, user=ScriptedChatModel(script=["and then?"]),
        assistant=make_assistant(), judge=make_judge(), samples=2, window=2,
        config={"callbacks": [runs]},
    )  # fmt: skip
    under = {name: [p for n, p in runs.parents if n == name] for name, _ in runs.parents}
    assert under["simulated_user"] == ["sample"] * 4 and under["assistant"] == ["sample"] * 4
    assert under["judge"] == ["sample"] * 2
    assert "conversation" not in under  # the sample run is the future's run
    # Every model call sits under its role's run; the judge's structured step opens none.
    assert set(under["chat_model"]) == {"simulated_user", "assistant"}
    assert under["structured_JudgeReply:text"] == ["judge"] * 2


class ModelCalls(BaseCallbackHandler):
    """Hears model calls only (as a usage ledger does): the parent run of each."""

    ignore_chain = True

    def __init__(self) -> None:
        self.parents: list = []

    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, **kw):
        self.parents.append(parent_run_id)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_turn_runs_that_nobody_hears_are_not_opened(mode):
    calls = ModelCalls()
    options = dict(
        task=MATH, user=ScriptedChatModel(script=["and then?"]), assistant=make_assistant(),
        judge=make_judge(), samples=2, window=2, config={"callbacks": [calls]},
    )  # fmt: skip
    if mode == "sync":
        rewards = score_candidates([("user", "dice?")], ["1/6"], **options)
    else:
        rewards = asyncio.run(ascore_candidates([("user", "dice?")], ["1/6"], **options))
    assert rewards[0].n_valid == 2
    # Each future's 2 user turns, 2 assistant turns and judge call sit right under its
    # sample run: no turn or judge run was opened, since no handler would hear of it.
    assert len(calls.parents) == 10 and len(set(calls.parents)) == 2


def test_subgraph_futures_keep_the_conversation_graph_in_the_trace():
    runs = Runs()
    graph = create_reward_graph(
        user=ScriptedChatModel(script=["and then?"]), assistant=make_assistant(),
        judge=make_judge(), samples=1, window=1, subgraph=True,
    )  # fmt: skip
    graph.invoke(
        {"messages": [("user", "dice?")], "candidates": ["1/6"], "task": MATH},
        {"callbacks": [runs]},
    )
    assert ("conversation", "sample") in runs.parents
    assert ("assistant", "conversation") in runs.parents


def test_a_structured_step_without_its_own_run_still_names_the_model_run():
    runs = Runs()
    model = ScriptedChatModel(script=[judge_json()])
    for trace in (True, False):
        step = StructuredOutput(model, JudgeReply, method="text", trace=trace)
        assert step.invoke("judge this", {"callbacks": [runs]}).final_artifact == "4"
    assert runs.parents == [
        ("structured_JudgeReply", None),
        ("structured_JudgeReply:text", "structured_JudgeReply"),
        ("structured_JudgeReply:text", None),
    ]
    assert create_judge(model).model.trace is False  # the judge role's run is its run
