"""The collaborative node: CollabLLM dropped into an agent you already have.

:func:`create_collaborative_node` wraps a chat model or a compiled agent graph (such as
``create_agent(model, tools)``) as a node over ``messages`` that takes the agent's
place in your own ``StateGraph``. Modes:

- ``"proactive"``: the agent answers under the paper's "Proactive Base" prompt (ask when
  needed, suggest next steps). One agent run, no lookahead.
- ``"lookahead"``: N candidate replies are sampled from the agent and each is scored by the
  Multiturn-aware Reward: S futures of w turns, a simulated user (who wants what the user's
  messages so far ask for) against the *real* agent with its real tools and state, judged.
  The best candidate is the reply; a per-turn :class:`Budget` bounds the lookahead.

The lookahead engine (:mod:`langgraph_collab.agents.lookahead`) is shared with
:class:`~langgraph_collab.agents.middleware.CollaborativeMiddleware`, the same behaviour for an
agent built with ``langchain.agents.create_agent``.

Forks: candidates and futures never run in the live thread. When the host graph (or the
agent) has a checkpointer, each candidate runs in a thread of its own and each future in a
new thread forked from its candidate's with ``get_state``/``update_state``, so the agent
keeps its whole state (tool calls and results included) across future turns; fork threads
are deleted afterwards unless ``keep_forks=True``. Without a checkpointer, forks are
in-memory copies of the agent's state. Tools run for real in candidates and futures.

The node returns the chosen candidate's messages and, under ``collab`` (a
:class:`LookaheadTurn`; declare the key in your state, e.g. with :class:`CollaborativeState`),
the candidates, their MR scores and the chosen index. Traces show a run per candidate
(``candidate_<k>``), a reward graph per candidate (``reward_<k>``, metadata
``collab_candidate``) and a ``collab_choice`` run with metadata ``collab_scores`` and
``collab_chosen``.

Example:
    >>> from langgraph.checkpoint.memory import InMemorySaver
    >>> from langgraph.graph import START, StateGraph
    >>> from langgraph_collab.agents.node import CollaborativeState, create_collaborative_node
    >>> from langgraph_collab.testing import ScriptedChatModel
    >>> model = ScriptedChatModel(script=["Sure - which city are you flying from?"])
    >>> graph = (
    ...     StateGraph(CollaborativeState)
    ...     .add_node("agent", create_collaborative_node(model, mode="proactive"))
    ...     .add_edge(START, "agent")
    ...     .compile(checkpointer=InMemorySaver())
    ... )
    >>> out = graph.invoke({"messages": [("user", "Book me a flight")]},
    ...                    {"configurable": {"thread_id": "1"}})
    >>> out["messages"][-1].content
    'Sure - which city are you flying from?'
    >>> node = create_collaborative_node(  # doctest: +SKIP
    ...     create_agent(model, tools), mode="lookahead", user="openai:gpt-4o-mini",
    ...     judge="openai:gpt-4o-mini", candidates=3, samples=2, window=1,
    ...     budget=Budget(seconds=60))
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.func import task as durable_task
from langgraph.graph import MessagesState

from langgraph_collab._runtime.sync import run_sync
from langgraph_collab.agents._forks import AgentLike, Forks, as_graph
from langgraph_collab.agents.budget import Budget, gather_kept
from langgraph_collab.agents.contracts import LookaheadOptions, LookaheadTurn, Sampled
from langgraph_collab.agents.lookahead import Lookahead, conversation_task
from langgraph_collab.errors import BudgetExhausted
from langgraph_collab.roles.assistant import proactive_prompt

__all__ = [
    "Budget",
    "BudgetExhausted",
    "CollaborativeState",
    "LookaheadTurn",
    "conversation_task",
    "create_collaborative_node",
]


class CollaborativeState(MessagesState):
    """``MessagesState`` plus the collaborative node's last turn under ``collab``."""

    collab: LookaheadTurn


def create_collaborative_node(
    agent: AgentLike,
    *,
    mode: Literal["proactive", "lookahead"] = "lookahead",
    options: LookaheadOptions | None = None,
    system_prompt: str | None = None,
    state_key: str = "collab",
    name: str = "collaborative_agent",
    **overrides: Any,
) -> RunnableLambda:
    """Wrap ``agent`` as a collaborative node (the modes: see the module docstring).

    Args:
        agent: A chat model, a model spec, a compiled graph over ``messages`` (an existing
            agent), or a Runnable/callable taking the message list.
        mode: ``"proactive"`` (prompt only) or ``"lookahead"`` (MR-scored candidates).
        options: How lookahead mode looks ahead (:class:`LookaheadOptions`: user, judge,
            candidates, budget, task, forks, and the MR's
            :class:`~langgraph_collab.reward.options.RewardOptions`); keywords naming a
            field of either override it (``candidates=3, samples=2``). The user and judge
            default to the agent's model when the agent is a chat model.
        system_prompt: The agent's system prompt for its replies (proactive mode: the
            paper's Proactive Base prompt unless given).
        state_key: The state key of the turn's :class:`LookaheadTurn`.
        name: The node's run name.

    Example:
        >>> from langgraph.graph import START, StateGraph
        >>> from langgraph.checkpoint.memory import InMemorySaver
        >>> from langgraph_collab.testing import ScriptedChatModel
        >>> model = ScriptedChatModel(script=["Booked: Paris to Rome.", "Flying from where?"])
        >>> def judge(state):  # a reply that asks first earns an A
        ...     asked = "?" in state["messages"][-2].content
        ...     return {"artifact": "", "grade": "A" if asked else "C"}
        >>> node = create_collaborative_node(
        ...     model, user=lambda state: "From Paris. [[TERMINATE CHAT]]", judge=judge,
        ...     candidates=2, samples=1, window=1)
        >>> graph = (StateGraph(CollaborativeState).add_node("agent", node)
        ...          .add_edge(START, "agent").compile(checkpointer=InMemorySaver()))
        >>> out = graph.invoke({"messages": [("user", "Book me a flight")]},
        ...                    {"configurable": {"thread_id": "1"}})
        >>> out["messages"][-1].content  # the candidate that asks first
        'Flying from where?'
        >>> sorted(out["collab"]["candidates"])
        ['Booked: Paris to Rome.', 'Flying from where?']
    """
    if mode not in ("proactive", "lookahead"):
        raise ValueError(f"mode must be 'proactive' or 'lookahead', not {mode!r}")
    options = LookaheadOptions.of(options, **overrides)
    graph = as_graph(agent)
    if mode == "proactive" and system_prompt is None:
        system_prompt = proactive_prompt()
    mixed = proactive_prompt() if options.proactive else None  # read once, not on the loop
    engine = Lookahead(model=agent, options=options) if mode == "lookahead" else None

    def inputs(state: dict, prompt: str | None) -> dict:
        values = {k: v for k, v in state.items() if k != state_key}
        messages = list(values.get("messages") or [])
        if prompt:
            messages = [SystemMessage(prompt, id=f"collab-system-{uuid.uuid4().hex}"), *messages]
        return {**values, "messages": messages}

    def new_messages(values: dict, out: dict) -> list[BaseMessage]:
        seen = {m.id for m in values["messages"]}
        return [m for m in out.get("messages", []) if m.id is None or m.id not in seen]

    async def sample(state: dict, host: RunnableConfig, forks: Forks, n: int) -> dict:
        """Run the agent once per candidate, each in its own fork."""

        async def one(k: int) -> dict | None:
            prompt = mixed if mixed and k % 2 == 1 else system_prompt
            values = inputs(state, prompt)
            added = new_messages(values, await forks.candidate(k, values, host))
            final = [m for m in added if isinstance(m, AIMessage) and m.text.strip()]
            return {"messages": added, "text": final[-1].text} if final else None

        kept = await gather_kept([one(k) for k in range(n)])
        values = {f"c{k}": forks.values[f"c{k}"] for k, _ in kept} if forks.saver is None else {}
        return {
            "prefix": forks.prefix,
            "threads": [f"c{k}" for k in range(n)],
            "keys": [k for k, _ in kept],
            "values": values,
            "candidates": [c for _, c in kept],
        }

    def sample_sync(state: dict, host: RunnableConfig, forks: Forks, n: int) -> dict:
        return run_sync(sample(state, host, forks, n))

    durable_sample = durable_task(name="collab_candidates")(sample)
    durable_sample_sync = durable_task(name="collab_candidates")(sample_sync)

    def ends_with_user(state: dict) -> bool:
        messages = state.get("messages") or []
        return bool(messages) and isinstance(messages[-1], HumanMessage)

    async def decide(
        state: dict, config: RunnableConfig, forks: Forks, sampled: Sampled, replies: list | None
    ) -> dict:
        forks.restore(sampled)
        scored = ends_with_user(state)
        best, record = await engine.decide(
            state, config, forks, sampled, replies=replies, score=scored
        )
        return {"messages": sampled["candidates"][best]["messages"], state_key: record}

    def run_blocking(state: dict, config: RunnableConfig) -> dict:
        if engine is None:
            values = inputs(state, system_prompt)
            return {"messages": new_messages(values, graph.invoke(values, config))}
        forks, config = engine.open(graph, config, sync=True)
        n = engine.candidates if ends_with_user(state) else 1
        try:  # the durable task and interrupt() run in the node's own thread
            if not engine.human:
                sampled = run_sync(sample(state, config, forks, n))
                return run_sync(decide(state, config, forks, sampled, None))
            sampled = durable_sample_sync(state, config, forks, n).result()
            forks.restore(sampled)
            replies = engine.ask_human(forks, sampled) if ends_with_user(state) else None
            return run_sync(decide(state, config, forks, sampled, replies))
        finally:
            run_sync(forks.close(engine.keep_forks))

    async def run_async(state: dict, config: RunnableConfig) -> dict:
        if engine is None:
            values = inputs(state, system_prompt)
            return {"messages": new_messages(values, await graph.ainvoke(values, config))}
        forks, config = engine.open(graph, config, sync=False)
        n = engine.candidates if ends_with_user(state) else 1
        try:
            sampled = await (durable_sample if engine.human else sample)(state, config, forks, n)
            forks.restore(sampled)
            human = engine.human and ends_with_user(state)
            replies = engine.ask_human(forks, sampled) if human else None
            return await decide(state, config, forks, sampled, replies)
        finally:
            await forks.close(engine.keep_forks)

    return RunnableLambda(run_blocking, afunc=run_async, name=name)
