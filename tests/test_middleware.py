"""The collaborative middleware: a real ``create_agent`` agent with a real tool and a
checkpointer, scripted chat models (the same as the node's tests)."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from langgraph_collab import CollaborativeMiddleware
from langgraph_collab.agents.budget import Budget
from langgraph_collab.roles.assistant import proactive_prompt
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import (
    ANSWERS,
    HUMAN_REPLIES,
    ChainRuns,
    ToolCallingModel,
    assert_best_chosen,
    assert_forks_left_the_live_thread_alone,
    assert_futures_ran_on_copies,
    assert_traced_choice,
    grading_judge,
    make_user,
)

needs_async_config = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="LangGraph hands async middleware its config on 3.11+"
)

ASK = [("user", "Get me the report")]
LIVE = {"configurable": {"thread_id": "live"}}


def collaborative(lookup, *, checkpointer=None, bound=True, **options):
    """``create_agent(model, [lookup], middleware=[CollaborativeMiddleware(...)])``."""
    options = {"user": make_user(), "judge": grading_judge(), **options}
    collab = CollaborativeMiddleware(**options)
    model = ToolCallingModel()
    agent = create_agent(model, [lookup], middleware=[collab], checkpointer=checkpointer)
    return (collab.bind(agent) if bound else agent), model


def test_lookahead_at_the_model_call_with_futures_in_forks_of_the_thread(lookup, lookups):
    saver = InMemorySaver()
    agent, model = collaborative(lookup, checkpointer=saver, candidates=3, samples=2, window=1)
    out = agent.invoke({"messages": ASK}, LIVE)

    collab = out["collab"]
    assert collab["forks"] == "checkpoint" and collab["mode"] == "lookahead"
    assert sorted(collab["candidates"]) == sorted(ANSWERS)
    # The tool step is not sampled; 3 x 2 futures call the real tool through the agent.
    assert lookups.count("Get me the report") == 1
    assert lookups.count("user message 1") == 6
    assert_forks_left_the_live_thread_alone(agent, LIVE, collab, model, saver)
    # candidates (N); per future: user, agent x2 (tool call, answer), judge
    assert collab["calls"] == 3 + 6 * (1 + 2 + 1)


@needs_async_config
async def test_async_agent_keeps_forks_when_asked(lookup, lookups):
    saver = InMemorySaver()
    agent, _ = collaborative(lookup, checkpointer=saver, samples=1, keep_forks=True)
    out = await agent.ainvoke({"messages": ASK}, LIVE)
    collab = out["collab"]
    assert_best_chosen(collab, out["messages"])
    assert len(lookups) == 1 + 3
    forks = collab["fork_threads"]
    assert len(forks) == 3 and set(saver.storage) == {"live", *forks}
    state = agent.get_state({"configurable": {"thread_id": forks[0]}})
    kinds = ["human", "ai", "tool", "ai", "human", "ai", "tool", "ai"]
    assert [m.type for m in state.values["messages"]] == kinds and state.next == ()
    assert "collab" not in state.values  # futures pass through the middleware


def test_without_a_checkpointer_futures_run_on_copies(lookup, lookups):
    agent, model = collaborative(lookup, samples=2)
    assert_futures_ran_on_copies(agent.invoke({"messages": ASK}), model, lookups)


def test_unbound_futures_are_played_by_the_same_model_and_tools(lookup, lookups):
    agent, model = collaborative(lookup, checkpointer=InMemorySaver(), bound=False, samples=1)
    out = agent.invoke({"messages": ASK}, LIVE)
    assert_best_chosen(out["collab"], out["messages"])
    assert lookups.count("user message 1") == 3
    assert model.future_views == [["human", "ai", "tool", "ai", "human", "ai", "tool"]] * 3


def test_a_human_plays_the_user_through_interrupt(lookup, lookups):
    agent, _ = collaborative(lookup, checkpointer=InMemorySaver(), user="human")
    first = agent.invoke({"messages": ASK}, LIVE)
    (question,) = first["__interrupt__"]
    assert sorted(question.value["candidates"]) == sorted(ANSWERS)
    out = agent.invoke(Command(resume=HUMAN_REPLIES), LIVE)
    collab = out["collab"]
    assert collab["user"] == "human" and collab["replies"] == HUMAN_REPLIES
    assert collab["candidates"] == question.value["candidates"]  # not sampled again
    assert len(lookups) == 1 + 2  # two futures went on, one user stopped
    assert [m.type for m in out["messages"]] == ["human", "ai", "tool", "ai"]
    assert collab["chosen"] == max(range(3), key=lambda i: collab["scores"][i])


@needs_async_config
async def test_a_human_plays_the_user_of_an_async_agent(lookup, lookups):
    agent, _ = collaborative(lookup, checkpointer=InMemorySaver(), user="human", candidates=2)
    first = await agent.ainvoke({"messages": ASK}, LIVE)
    (question,) = first["__interrupt__"]
    out = await agent.ainvoke(Command(resume=["Which one?", "Thanks, that is all."]), LIVE)
    assert out["collab"]["candidates"] == question.value["candidates"]
    assert out["collab"]["replies"] == ["Which one?", "Thanks, that is all."]
    assert len(lookups) == 1 + 2 and out["messages"][-1].content in ANSWERS


@pytest.mark.skipif(sys.version_info >= (3, 11), reason="the limit of Python 3.10 only")
async def test_an_async_agent_on_python_3_10_is_told_to_run_sync_or_upgrade(lookup, lookups):
    agent, _ = collaborative(lookup, checkpointer=InMemorySaver(), samples=1)
    with pytest.raises(RuntimeError, match=r"only on Python 3\.11"):
        await agent.ainvoke({"messages": ASK}, LIVE)
    assert lookups == []  # refused before any model call


def test_budget_spent_on_candidates_answers_with_the_first(lookup, lookups):
    agent, _ = collaborative(lookup, candidates=3, samples=2, budget=Budget(calls=4))
    out = agent.invoke({"messages": ASK})
    collab = out["collab"]
    assert collab["budget_exhausted"] and collab["scores"] == [None, None, None]
    assert collab["chosen"] == 0 and out["messages"][-1].content == collab["candidates"][0]
    assert len(lookups) == 1  # no future ran


def test_traces_show_candidates_rewards_and_the_choice(lookup):
    runs = ChainRuns()
    agent, _ = collaborative(lookup, samples=1)
    out = agent.invoke({"messages": ASK}, {"callbacks": [runs]})
    assert_traced_choice(runs, out["collab"])


def test_proactive_mode_prompts_every_model_call_after_the_agents_prompt():
    seen: list[list[BaseMessage]] = []

    def script(messages: list[BaseMessage]) -> str:
        seen.append(messages)
        return "What is the report for?"

    middleware = [CollaborativeMiddleware(mode="proactive")]
    model = ScriptedChatModel(script=script)
    agent = create_agent(model, [], system_prompt="You write reports.", middleware=middleware)
    out = agent.invoke({"messages": ASK})
    assert [m.content for m in out["messages"]] == ["Get me the report", "What is the report for?"]
    system = seen[0][0]
    assert isinstance(system, SystemMessage)
    assert system.content == f"You write reports.\n\n{proactive_prompt()}"
    assert "collab" not in out


class LooksAgain(ToolCallingModel):
    """As ToolCallingModel, but under the proactive prompt it looks up more after a lookup."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        if proactive_prompt() in messages[0].text and isinstance(messages[-1], ToolMessage):
            call = {"name": "lookup", "args": {"query": "more"}, "id": "again"}
            return ChatResult(
                generations=[ChatGeneration(message=AIMessage("", tool_calls=[call]))]
            )
        return super()._generate(messages, *args, **kwargs)


def test_the_paper_mix_drops_candidates_that_call_tools(lookup, lookups):
    collab = CollaborativeMiddleware(
        user=make_user(), judge=grading_judge(), candidates=3, samples=1, proactive=True
    )
    agent = collab.bind(create_agent(LooksAgain(), [lookup], middleware=[collab]))
    out = agent.invoke({"messages": ASK})
    # k = 0 and 2 answer under the agent's prompt; k = 1 (proactive) calls a tool: dropped
    assert len(out["collab"]["candidates"]) == 2
    assert "more" not in lookups and out["messages"][-1].content in ANSWERS


def test_options_are_checked():
    with pytest.raises(ValueError, match="user= and judge="):
        CollaborativeMiddleware()
    with pytest.raises(ValueError, match="mode"):
        CollaborativeMiddleware(mode="eager")
    with pytest.raises(ValueError, match="candidates=0: must be at least 1"):
        CollaborativeMiddleware(user="fake", judge="fake", candidates=0)
