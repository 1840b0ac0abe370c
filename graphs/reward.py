"""The reward graph for LangGraph Studio: the Multiturn-aware Reward of candidate replies.

Input: ``messages`` (the conversation up to the user's turn, as ``{"role", "content"}``
dicts), ``candidates`` (strings) and ``task`` (a dict); all three default to the bundled
demo example. Output: ``rewards``, one per candidate (mean, stderr, components, samples).
Models: :mod:`graphs.models`; ``LANGGRAPH_COLLAB_SAMPLES`` (S, default 2) and
``LANGGRAPH_COLLAB_WINDOW`` (w, default 1) size the lookahead.
"""

from __future__ import annotations

from langchain_core.messages.utils import convert_to_messages
from langgraph.graph import START, StateGraph

from graphs.conversation import as_task
from graphs.models import model_for, setting
from langgraph_collab import create_reward_graph
from langgraph_collab.reward.graph import RewardState
from langgraph_collab.tasks import demo_example


def prepare(state: RewardState) -> dict:
    task, conversation, candidates = demo_example()
    given = state.get("candidates") or candidates
    candidates = [c if isinstance(c, str) else c.get("content", "") for c in given]
    return {
        "task": as_task(state.get("task") or task),
        "messages": convert_to_messages(state.get("messages") or conversation),
        "candidates": candidates,
    }


reward = create_reward_graph(
    user=model_for("user"),
    assistant=model_for("assistant"),
    judge=model_for("judge"),
    samples=setting("samples", 2),
    window=setting("window", 1),
    subgraph=True,  # in Studio, each future's turns step and stream as a subgraph
)
graph = (
    StateGraph(RewardState)
    .add_node("prepare", prepare)
    .add_node("reward", reward)
    .add_edge(START, "prepare")
    .add_edge("prepare", "reward")
    .compile(name="reward")
)
