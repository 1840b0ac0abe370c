"""The collaborative middleware: CollabLLM for agents built with ``create_agent``.

:class:`CollaborativeMiddleware` is one more ``AgentMiddleware`` for
``langchain.agents.create_agent``; it acts at the model call (``wrap_model_call``):

- ``mode="proactive"``: every model call runs under the paper's "Proactive Base" prompt
  (after the agent's own system prompt).
- ``mode="lookahead"``: the model call is sampled up to N times and each final answer is
  scored by the Multiturn-aware Reward: S futures of w turns in which a simulated user
  (or a person, ``user="human"``, through ``interrupt()``) talks to the *same agent*, tools
  included, in forks of the thread; the best answer is the model's response.

Tool calls are steps, not replies: the first sample decides. When it calls tools it is
the response at once (one model call, as without the middleware); when it is a final
answer, N - 1 more are sampled and those that call tools are dropped. So the lookahead
runs once per user turn, at the model call that answers. It does not run inside a
lookahead's own forks (their configs are marked), without a user message in the
conversation, or with a ``response_format`` (structured output).

The futures are played by the agent given to :meth:`CollaborativeMiddleware.bind` (the
same compiled graph, with every middleware it has); unbound, by
``create_agent(request.model, request.tools, system_prompt=...)``, the same model, tools
and system prompt without the agent's other middleware. Forks: with a checkpointer each
future is a thread of its own, seeded with the conversation and its candidate, deleted
afterwards unless ``keep_forks``; without one, in-memory copies. The live thread keeps the
chosen response only. The turn's candidates, scores and choice go under the state key
``collab`` (a :class:`~langgraph_collab.agents.node.LookaheadTurn`) and into the trace
(``candidate_<k>``, ``reward_<k>``, ``collab_choice``), as with the collaborative node,
whose lookahead engine this shares (:mod:`langgraph_collab.agents.lookahead`).

Example:
    >>> from langchain.agents import create_agent
    >>> from langgraph_collab import CollaborativeMiddleware
    >>> from langgraph_collab.testing import ScriptedChatModel
    >>> model = ScriptedChatModel(script=["Which city are you flying from?"])
    >>> agent = create_agent(model, [], middleware=[CollaborativeMiddleware(mode="proactive")])
    >>> agent.invoke({"messages": [("user", "Book me a flight")]})["messages"][-1].content
    'Which city are you flying from?'
    >>> collab = CollaborativeMiddleware(user="openai:gpt-4o-mini", judge="openai:gpt-4o-mini",
    ...     candidates=3, samples=2, window=1, budget=Budget(seconds=30))  # doctest: +SKIP
    >>> agent = collab.bind(create_agent(model, tools, middleware=[collab],
    ...                                  checkpointer=InMemorySaver()))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from langchain.agents import create_agent
from langchain.agents.middleware import (
    AgentMiddleware,
    AgentState,
    ExtendedModelResponse,
    ModelRequest,
    ModelResponse,
)
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.config import get_config
from langgraph.func import task as durable_task
from langgraph.pregel import Pregel
from langgraph.types import Command
from typing_extensions import NotRequired

from langgraph_collab._runtime.sync import run_sync
from langgraph_collab.agents._forks import Forks, detached, in_fork
from langgraph_collab.agents.budget import gather_kept
from langgraph_collab.agents.contracts import LookaheadOptions, LookaheadTurn, Sampled
from langgraph_collab.agents.lookahead import Lookahead
from langgraph_collab.roles.assistant import proactive_prompt

__all__ = ["CollaborativeAgentState", "CollaborativeMiddleware"]

STATE_KEY = "collab"
Handler = Callable[[ModelRequest], ModelResponse | Awaitable[ModelResponse]]


class CollaborativeAgentState(AgentState):
    """The agent's state plus the last lookahead turn under ``collab``."""

    collab: NotRequired[LookaheadTurn]


def _final(messages: list[BaseMessage]) -> str | None:
    """The answer's text when the response is a final answer (no tool call), else None."""
    last = messages[-1] if messages else None
    if isinstance(last, AIMessage) and not last.tool_calls and last.text.strip():
        return last.text
    return None


def _with_prompt(request: ModelRequest, prompt: str) -> ModelRequest:
    """``request`` with ``prompt`` after the agent's own system prompt."""
    own = request.system_prompt
    return request.override(system_message=SystemMessage(f"{own}\n\n{prompt}" if own else prompt))


class CollaborativeMiddleware(AgentMiddleware):
    """Proactive prompting or MR lookahead at the agent's model call (see the module).

    Args:
        mode: ``"lookahead"`` (MR-scored candidates) or ``"proactive"`` (prompt only).
        options: How lookahead mode looks ahead
            (:class:`~langgraph_collab.agents.lookahead.LookaheadOptions`, the node's
            too); keywords naming a field of it or of its ``reward`` override it
            (``user=..., judge=..., candidates=3, samples=2``). ``user="human"``
            interrupts with a
            :class:`~langgraph_collab.agents.lookahead.HumanTurnRequest` and resumes with
            a :class:`~langgraph_collab.agents.lookahead.HumanTurnResponse`.

    The futures are played by the agent the middleware is part of; :meth:`bind` names it,
    else an agent like it is built from the model request.

    Example:
        >>> from langchain.agents import create_agent
        >>> from langgraph.checkpoint.memory import InMemorySaver
        >>> from langgraph_collab.testing import ScriptedChatModel
        >>> model = ScriptedChatModel(script=["Booked: Paris to Rome.", "Flying from where?"])
        >>> def judge(state):  # a reply that asks first earns an A
        ...     asked = "?" in state["messages"][-2].content
        ...     return {"artifact": "", "grade": "A" if asked else "C"}
        >>> collab = CollaborativeMiddleware(
        ...     user=lambda state: "From Paris. [[TERMINATE CHAT]]", judge=judge,
        ...     candidates=2, samples=1, window=1)
        >>> agent = collab.bind(
        ...     create_agent(model, [], middleware=[collab], checkpointer=InMemorySaver()))
        >>> out = agent.invoke({"messages": [("user", "Book me a flight")]},
        ...                    {"configurable": {"thread_id": "1"}})
        >>> out["messages"][-1].content, out["collab"]["candidates"]
        ('Flying from where?', ['Booked: Paris to Rome.', 'Flying from where?'])
    """

    state_schema = CollaborativeAgentState

    def __init__(
        self,
        *,
        mode: Literal["proactive", "lookahead"] = "lookahead",
        options: LookaheadOptions | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__()
        if mode not in ("proactive", "lookahead"):
            raise ValueError(f"mode must be 'proactive' or 'lookahead', not {mode!r}")
        options = LookaheadOptions.of(options, **overrides)
        self.tools = []
        self.agent: Pregel | None = None
        self.prompt = proactive_prompt() if mode == "proactive" or options.proactive else None
        self.engine = Lookahead(model=None, options=options) if mode == "lookahead" else None
        self._durable = durable_task(name="collab_candidates")(self._sample)
        self._durable_sync = durable_task(name="collab_candidates")(self._sample_sync)

    def bind(self, agent: Pregel) -> Pregel:
        """Let ``agent`` (the compiled agent this middleware is part of) play the futures;
        returns it, so ``agent = collab.bind(create_agent(..., middleware=[collab]))``."""
        self.agent = agent
        return agent

    def _graph(self, request: ModelRequest) -> Pregel:
        if self.agent is not None:
            return self.agent
        prompt = request.system_message
        return create_agent(request.model, request.tools, system_prompt=prompt, middleware=[self])

    def _looks_ahead(self, request: ModelRequest, config: RunnableConfig) -> bool:
        said = any(isinstance(m, HumanMessage) for m in request.messages)
        return said and request.response_format is None and not in_fork(config)

    async def _sample(
        self, request: ModelRequest, handler: Handler, host: RunnableConfig, forks: Forks
    ) -> dict:
        """The first sample; when it is a final answer, N - 1 more (final answers kept)."""

        async def one(k: int) -> list[BaseMessage]:
            asked = _with_prompt(request, self.prompt) if self.prompt and k % 2 else request

            async def call(_: dict) -> list[BaseMessage]:
                if forks.sync:  # the sync handler, on a worker thread: candidates overlap
                    return (await asyncio.to_thread(handler, asked)).result
                return (await handler(asked)).result

            run = detached(
                host,
                name=f"candidate_{k}",
                metadata={"candidate_index": k},
                tags=["role:candidate"],
            )
            return await RunnableLambda(call).ainvoke({"messages": asked.messages}, run)

        first = await one(0)
        if _final(first) is None:
            return {"step": first}

        async def answer(k: int) -> dict | None:
            messages = first if k == 0 else await one(k)
            text = _final(messages)
            return {"messages": messages, "text": text} if text else None

        kept = await gather_kept([answer(k) for k in range(self.engine.candidates)])
        return {
            "prefix": forks.prefix,
            "threads": [],
            "values": {},
            "keys": [k for k, _ in kept],
            "candidates": [c for _, c in kept],
        }

    def _sample_sync(
        self, request: ModelRequest, handler: Handler, host: RunnableConfig, forks: Forks
    ) -> dict:
        return run_sync(self._sample(request, handler, host, forks))

    def _adopt(self, request: ModelRequest, forks: Forks, sampled: Sampled) -> None:
        forks.restore(sampled)
        state = {k: v for k, v in request.state.items() if k != STATE_KEY and v is not None}
        for k, candidate in zip(sampled["keys"], sampled["candidates"], strict=True):
            messages = [*request.state["messages"], *candidate["messages"]]
            forks.adopt(k, {**state, "messages": messages}, as_node="model")

    async def _decide(
        self, request: ModelRequest, config: RunnableConfig, forks: Forks, sampled: Sampled, replies
    ) -> ExtendedModelResponse:
        best, record = await self.engine.decide(
            request.state, config, forks, sampled, replies=replies
        )
        chosen = ModelResponse(result=sampled["candidates"][best]["messages"])
        return ExtendedModelResponse(
            model_response=chosen, command=Command(update={STATE_KEY: record})
        )

    def wrap_model_call(self, request: ModelRequest, handler: Callable) -> Any:
        """Sync entrance: see the module docstring."""
        if self.engine is None:
            return handler(_with_prompt(request, self.prompt))
        config = get_config()
        if not self._looks_ahead(request, config):
            return handler(request)
        forks, config = self.engine.open(self._graph(request), config, sync=True)
        try:  # the durable task and interrupt() run in the model node's own thread
            if self.engine.human:  # kept by LangGraph across the interrupt
                sampled = self._durable_sync(request, handler, config, forks).result()
            else:
                sampled = self._sample_sync(request, handler, config, forks)
            if "step" in sampled:
                return ModelResponse(result=sampled["step"])
            self._adopt(request, forks, sampled)
            replies = self.engine.ask_human(forks, sampled) if self.engine.human else None
            return run_sync(self._decide(request, config, forks, sampled, replies))
        finally:
            run_sync(forks.close(self.engine.keep_forks))

    async def awrap_model_call(self, request: ModelRequest, handler: Callable) -> Any:
        """Async entrance: see the module docstring."""
        if self.engine is None:
            return await handler(_with_prompt(request, self.prompt))
        config = _async_host_config()
        if not self._looks_ahead(request, config):
            return await handler(request)
        forks, config = self.engine.open(self._graph(request), config, sync=False)
        try:
            sample = self._durable if self.engine.human else self._sample
            sampled = await sample(request, handler, config, forks)
            if "step" in sampled:
                return ModelResponse(result=sampled["step"])
            self._adopt(request, forks, sampled)
            replies = self.engine.ask_human(forks, sampled) if self.engine.human else None
            return await self._decide(request, config, forks, sampled, replies)
        finally:
            await forks.close(self.engine.keep_forks)


def _async_host_config() -> RunnableConfig:
    """The agent run's config inside async middleware. LangGraph hands it to async code
    through a context variable, which Python 3.10's asyncio does not carry into the model
    node, so there lookahead cannot find its thread, callbacks or fork marker."""
    try:
        return get_config()
    except RuntimeError:
        if sys.version_info >= (3, 11):
            raise
        raise RuntimeError(
            "CollaborativeMiddleware looks ahead in an async agent only on Python 3.11+: on "
            "3.10 LangGraph cannot hand the run's config to async middleware. Run the agent "
            "with invoke/stream (the sync path works on 3.10), use mode='proactive', or use "
            "Python 3.11+."
        ) from None
