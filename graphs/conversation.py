"""The conversation graph for LangGraph Studio: a simulated user and an assistant.

Input: ``task`` (a :class:`~langgraph_collab.Task` as a dict; default: the bundled demo
task), optionally ``messages`` and ``max_turns``. Models: :mod:`graphs.models`;
``LANGGRAPH_COLLAB_MAX_TURNS`` (default 3) bounds the assistant's replies.
"""

from __future__ import annotations

from langgraph.graph import START, StateGraph

from graphs.models import model_for, setting
from langgraph_collab import Task, create_conversation_graph
from langgraph_collab.state import ConversationState
from langgraph_collab.tasks import demo_example


def as_task(value: object) -> Task:
    """A Task from what a client sent (a dict), or the demo task when nothing was."""
    if isinstance(value, Task):
        return value
    return Task.model_validate(value) if value else demo_example()[0]


def prepare(state: ConversationState) -> dict:
    return {"task": as_task(state.get("task"))}


conversation = create_conversation_graph(
    user=model_for("user"),
    assistant=model_for("assistant"),
    max_turns=setting("max_turns", 3),
)
graph = (
    StateGraph(ConversationState)
    .add_node("prepare", prepare)
    .add_node("conversation", conversation)
    .add_edge(START, "prepare")
    .add_edge("prepare", "conversation")
    .compile(name="conversation")
)
