import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langgraph_collab import Task, create_conversation_graph
from langgraph_collab.state import TERMINATE
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import make_assistant, make_user

TASK = Task(request="Plan a trip")


def test_user_opens_and_the_graph_cycles_until_the_stop_token():
    graph = create_conversation_graph(user=make_user(stop_after=3), assistant=make_assistant())
    out = graph.invoke({"messages": [], "task": TASK})
    kinds = [m.type for m in out["messages"]]
    assert kinds == ["human", "ai"] * 3 + ["human"]
    assert TERMINATE in out["messages"][-1].content
    assert out["done"] is True
    assert out["turn"] == 3
    assert out["messages"][1].content == "reply to: user message 0"


def test_the_turn_budget_in_state_stops_the_cycle():
    graph = create_conversation_graph(user=make_user(), assistant=make_assistant(), max_turns=10)
    out = graph.invoke({"messages": [], "task": TASK, "max_turns": 2})
    assert [m.type for m in out["messages"]] == ["human", "ai", "human", "ai"]
    assert out["turn"] == 2
    assert not out.get("done")


def test_a_conversation_ending_with_the_user_starts_with_the_assistant():
    graph = create_conversation_graph(user=make_user(), assistant=make_assistant(), max_turns=1)
    out = graph.invoke({"messages": [HumanMessage("hello")], "task": TASK})
    assert [m.content for m in out["messages"]] == ["hello", "reply to: hello"]


def test_zero_budget_runs_no_role():
    user, assistant = make_user(), make_assistant()
    graph = create_conversation_graph(user=user, assistant=assistant)
    out = graph.invoke({"messages": [AIMessage("hi")], "task": TASK, "max_turns": 0})
    assert len(out["messages"]) == 1
    assert user.calls == assistant.calls == 0


def test_a_plain_callable_plays_the_user_and_the_assistant():
    def user(state):
        return (
            "bye [[TERMINATE CHAT]]" if state["messages"] else f"help with: {state['task'].request}"
        )

    graph = create_conversation_graph(user=user, assistant=lambda messages: "sure")
    out = graph.invoke({"messages": [], "task": TASK})
    assert [m.content for m in out["messages"]] == [
        "help with: Plan a trip",
        "sure",
        "bye [[TERMINATE CHAT]]",
    ]


def test_the_user_sees_its_goal_and_the_roles_swapped():
    seen = []

    def script(messages):
        seen.append(messages)
        return "ok [[TERMINATE CHAT]]" if len(messages) > 2 else "hi"

    graph = create_conversation_graph(
        user=ScriptedChatModel(script=script), assistant=make_assistant()
    )
    graph.invoke({"messages": [], "task": TASK})
    system, opening, own, other = seen[-1]
    assert system.type == "system" and "Plan a trip" in system.content
    assert opening.type == "human"
    assert (own.type, own.content) == ("ai", "hi")  # its own message, as the "assistant" side
    assert (other.type, other.content) == ("human", "reply to: hi")


def test_an_empty_user_reply_is_retried_then_recorded_not_raised():
    user = ScriptedChatModel(script=["   "])
    graph = create_conversation_graph(user=user, assistant=make_assistant())
    out = graph.invoke({"messages": [], "task": TASK})
    assert out["done"] is True
    assert "simulated_user" in out["failure"] and "empty" in out["failure"]
    assert user.calls == 3  # first try + 2 retries
    assert out["messages"] == []


def test_a_user_that_answers_as_the_assistant_is_retried():
    user = ScriptedChatModel(script=["Assistant: here is the plan", "I need a plan"])
    graph = create_conversation_graph(user=user, assistant=make_assistant(), max_turns=1)
    out = graph.invoke({"messages": [], "task": TASK})
    assert out["messages"][0].content == "I need a plan"


def test_a_transient_failure_past_its_retries_ends_the_run_with_a_failure():
    from langgraph_collab import create_assistant
    from langgraph_collab.errors import Backoff

    def timing_out(messages):
        raise TimeoutError("model timed out")

    assistant = create_assistant(timing_out, backoff=Backoff(base=0.001))
    graph = create_conversation_graph(user=make_user(), assistant=assistant)
    out = graph.invoke({"messages": [], "task": TASK})
    assert (
        out["failure"] == "assistant (timing_out): TimeoutError: model timed out (after 2 attempts)"
    )
    assert len(out["messages"]) == 1


def test_a_bug_in_the_assistant_raises_instead_of_ending_quietly():
    from langgraph_collab import PermanentError

    def buggy(messages):
        return messages.no_such_method()

    graph = create_conversation_graph(user=make_user(), assistant=buggy)
    with pytest.raises(PermanentError, match=r"assistant \(buggy\): AttributeError"):
        graph.invoke({"messages": [], "task": TASK})


async def test_async_runs_the_same_cycle():
    graph = create_conversation_graph(user=make_user(stop_after=1), assistant=make_assistant())
    out = await graph.ainvoke({"messages": [], "task": TASK})
    assert [m.type for m in out["messages"]] == ["human", "ai", "human"]


def test_a_compiled_agent_graph_plays_the_assistant_and_only_its_reply_is_kept():
    from langchain_core.messages import ToolMessage
    from langgraph.graph import END, START, MessagesState, StateGraph

    def agent(state: MessagesState) -> dict:
        # An agent whose run adds a tool exchange before its answer.
        return {
            "messages": [
                AIMessage("", tool_calls=[{"name": "lookup", "args": {}, "id": "call-1"}]),
                ToolMessage("42", tool_call_id="call-1"),
                AIMessage(f"The answer is 42 (you said: {state['messages'][-1].content})"),
            ]
        }

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", END)
    graph = create_conversation_graph(
        user=make_user(stop_after=1), assistant=builder.compile(), max_turns=3
    )
    out = graph.invoke({"messages": [], "task": TASK})
    assert [m.type for m in out["messages"]] == ["human", "ai", "human"]
    assert out["messages"][1].content == "The answer is 42 (you said: user message 0)"
