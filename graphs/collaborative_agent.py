"""An agent with a real tool, made collaborative two ways, both in lookahead mode.

The agent is ``create_agent(model, [lookup])``, with a ``lookup`` tool over a few notes.

- ``graph`` (``collaborative_agent`` in langgraph.json): the agent replaces its own node in
  a small host graph as a collaborative node; every turn, N candidate replies (whole agent
  runs) are scored by MR with S futures of w turns, played by the simulated user and the
  real agent (tools included), and the best one is the reply.
- ``middleware_graph`` (``collaborative_middleware``): the same agent with a
  :class:`~langgraph_collab.CollaborativeMiddleware`; the lookahead runs at the model call
  that answers (the tool step passes), with the futures played by this agent itself.

``collab`` in the state shows the candidates, their scores and the choice.

Models: :mod:`graphs.models` (the embedded model by default). A model without tool calling
(the embedded one, the ``fake`` one) is wrapped by :class:`LookupFirst`, which calls the
tool on each user message and lets the model answer from the result: the same agent graph,
the same real tool (the shim decides the tool call, not the model). Sizes:
``LANGGRAPH_COLLAB_CANDIDATES`` (N, default 3), ``LANGGRAPH_COLLAB_SAMPLES`` (S, default 2),
``LANGGRAPH_COLLAB_WINDOW`` (w, default 1).
"""

from __future__ import annotations

import uuid
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graphs.models import model_for, setting
from langgraph_collab import CollaborativeMiddleware
from langgraph_collab.agents.node import CollaborativeState, create_collaborative_node

NOTES = {
    "lisbon": "Lisbon: 3 days suit the old town, Belem and a day trip to Sintra.",
    "budget": "Budget: hostels from 25 EUR a night; the 24 h transport pass is 6.80 EUR.",
    "weather": "Weather: May and September are warm and dry; July and August are hot.",
}


@tool
def lookup(query: str) -> str:
    """Look up travel notes about the words in ``query``."""
    words = query.lower()
    found = [note for key, note in NOTES.items() if key in words]
    return "\n".join(found) or "No notes on that; the notes cover Lisbon, budget and weather."


class LookupFirst(BaseChatModel):
    """A tool-calling shim for chat models without tool calling: on a user message, call
    the ``lookup`` tool with that message; on a tool result, let ``model`` answer with the
    result given as a note in the conversation."""

    model: BaseChatModel

    @property
    def _llm_type(self) -> str:
        return "lookup-first"

    def bind_tools(self, tools: Any, **kwargs: Any) -> LookupFirst:
        return self

    @staticmethod
    def _call(messages: list[BaseMessage]) -> ChatResult | None:
        if not isinstance(messages[-1], HumanMessage):
            return None
        call = {"name": "lookup", "args": {"query": messages[-1].text}, "id": uuid.uuid4().hex}
        return ChatResult(generations=[ChatGeneration(message=AIMessage("", tool_calls=[call]))])

    @staticmethod
    def _plain(messages: list[BaseMessage]) -> list[BaseMessage]:
        plain: list[BaseMessage] = []
        for message in messages:
            if isinstance(message, ToolMessage):
                plain.append(HumanMessage(f"(Notes found for you: {message.text})"))
            elif not (isinstance(message, AIMessage) and message.tool_calls):
                plain.append(message)
        return plain

    # The inner call runs without callbacks: traces and usage ledgers see one model call
    # per ReAct step (this one), as with a model that calls tools itself.
    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        quiet = {"callbacks": []}
        reply = self._call(messages) or self.model.invoke(self._plain(messages), quiet)
        return reply if isinstance(reply, ChatResult) else _result(reply)

    async def _agenerate(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> ChatResult:
        quiet = {"callbacks": []}
        reply = self._call(messages) or await self.model.ainvoke(self._plain(messages), quiet)
        return reply if isinstance(reply, ChatResult) else _result(reply)


def _result(message: BaseMessage) -> ChatResult:
    answer = AIMessage(message.text, usage_metadata=getattr(message, "usage_metadata", None))
    return ChatResult(generations=[ChatGeneration(message=answer)])


def build_agent(model: BaseChatModel, **options: Any) -> CompiledStateGraph:
    """``create_agent(model, [lookup], **options)``, through :class:`LookupFirst` when
    ``model`` has no tool calling."""
    try:
        model.bind_tools([lookup])
    except NotImplementedError:
        model = LookupFirst(model=model)
    return create_agent(model, [lookup], **options)


def _sizes() -> dict[str, Any]:
    return {
        "user": model_for("user"),
        "judge": model_for("judge"),
        "candidates": setting("candidates", 3),
        "samples": setting("samples", 2),
        "window": setting("window", 1),
    }


def build_graph(**options: Any) -> CompiledStateGraph:
    """The host graph: START -> the collaborative agent. ``options`` go to
    :func:`create_collaborative_node` (defaults: environment sizes, models per role)."""
    defaults = {"mode": "lookahead", **_sizes()}
    node = create_collaborative_node(build_agent(model_for("assistant")), **defaults | options)
    builder = StateGraph(CollaborativeState).add_node("agent", node).add_edge(START, "agent")
    return builder.compile(name="collaborative_agent")


def build_middleware_graph(**options: Any) -> CompiledStateGraph:
    """The agent with a :class:`CollaborativeMiddleware` (``options`` go to it; defaults:
    environment sizes, models per role), bound to play its own futures."""
    collab = CollaborativeMiddleware(**_sizes() | options)
    agent = build_agent(
        model_for("assistant"), middleware=[collab], name="collaborative_middleware"
    )
    return collab.bind(agent)


graph = build_graph()
middleware_graph = build_middleware_graph()
