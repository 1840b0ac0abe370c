"""The conversation graph: a simulated user and an assistant taking turns, as a cycle.

``simulated_user -> assistant -> simulated_user -> ...`` until the user writes
``[[TERMINATE CHAT]]``, the turn budget in state (``max_turns`` assistant replies) is spent,
or a role fails for good (recorded in ``failure``). The graph starts with whoever is due:
the user on an empty conversation or after an assistant reply, the assistant after a user
message. Forward sampling runs this graph with ``max_turns=w``.

Example:
    >>> from langgraph_collab import Task, create_conversation_graph
    >>> graph = create_conversation_graph(
    ...     user=lambda s: "Bye [[TERMINATE CHAT]]" if s["messages"] else "What is 2+2?",
    ...     assistant=lambda messages: "4",
    ... )
    >>> out = graph.invoke({"messages": [], "task": Task(request="What is 2+2?")})
    >>> [m.content for m in out["messages"]], out["done"]
    (['What is 2+2?', '4', 'Bye [[TERMINATE CHAT]]'], True)
"""

from __future__ import annotations

import asyncio

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from langgraph_collab._role import Step, role_node
from langgraph_collab.assistant import AssistantLike, create_assistant
from langgraph_collab.fidelity import FidelityGuard, UserTurn, auser_turn, resolve_guard, user_turn
from langgraph_collab.state import ConversationState
from langgraph_collab.stopping import goal_met
from langgraph_collab.user import UserLike, create_simulated_user, is_terminal

DEFAULT_MAX_TURNS = 7
"""Seven assistant turns: the paper's 14-message conversations."""


def recursion_limit(max_turns: int) -> int:
    """A ``recursion_limit`` safety net above what a ``max_turns`` budget can need."""
    return 2 * max_turns + 5


def create_conversation_graph(
    *,
    user: UserLike,
    assistant: AssistantLike,
    max_turns: int = DEFAULT_MAX_TURNS,
    fidelity: FidelityGuard | bool = True,
    grounded_stop: bool = False,
    name: str = "conversation",
) -> CompiledStateGraph:
    """Build the cyclic user <-> assistant graph over :class:`ConversationState`.

    Args:
        user: Anything :func:`create_simulated_user` takes (a chat model, a spec, a callable).
        assistant: Anything :func:`create_assistant` takes (a chat model, an agent graph...).
        max_turns: Assistant replies allowed when the input state sets no ``max_turns``.
        fidelity: Checks every simulated-user turn (True: the rule checks of
            :func:`~langgraph_collab.fidelity.create_fidelity_guard`; a guard of your own;
            False: none). A failing turn is regenerated; one that keeps failing ends the
            run with a ``failure``. Counts go to ``fidelity`` in state.
        grounded_stop: End the chat when the task's goal is met (see
            :mod:`langgraph_collab.stopping`), not only on the user's stop token.
        name: The compiled graph's name.

    Input state: ``messages`` (possibly empty) and ``task``; optionally ``max_turns``.
    Output adds ``stop_reason``: ``user``, ``goal_met``, ``budget`` or ``failure``.
    """
    if max_turns < 0:
        raise ValueError(f"max_turns must be >= 0, got {max_turns}")
    user_role = create_simulated_user(user)
    assistant_role = create_assistant(assistant)
    guard = resolve_guard(fidelity)

    def budget_left(state: ConversationState) -> bool:
        return state.get("turn", 0) < state.get("max_turns", max_turns)

    def user_update(state: ConversationState, turn: UserTurn) -> dict:
        if turn.message is None:
            return {"done": True, "failure": turn.failure, "stop_reason": "failure",
                    "fidelity": turn.counts}  # fmt: skip
        done = is_terminal(turn.message)
        return {
            "messages": [turn.message],
            "done": done,
            "stop_reason": "user" if done else None,
            "fidelity": turn.counts,
        }

    def assistant_update(state: ConversationState, reply: AIMessage, met: bool) -> dict:
        turn = state.get("turn", 0) + 1
        out: dict = {"messages": [reply], "turn": turn}
        if met:
            out |= {"done": True, "stop_reason": "goal_met"}
        elif turn >= state.get("max_turns", max_turns):
            out["stop_reason"] = "budget"
        return out

    def met(state: ConversationState, reply: AIMessage) -> bool:
        return grounded_stop and goal_met(state["task"], [*state.get("messages", []), reply])

    def first(state: ConversationState) -> str:
        if state.get("done") or not budget_left(state):
            return END
        messages = state.get("messages") or []
        if messages and isinstance(messages[-1], HumanMessage):
            return "assistant"
        return "simulated_user"

    def after_user(state: ConversationState) -> str:
        return END if state.get("done") else "assistant"

    def after_assistant(state: ConversationState) -> str:
        return END if state.get("done") or not budget_left(state) else "simulated_user"

    def user_node(state: ConversationState, config: RunnableConfig) -> dict:
        return user_update(state, user_turn(user_role, guard, state, user_role.tagged(config)))

    async def auser_node(state: ConversationState, config: RunnableConfig) -> dict:
        turn = await auser_turn(user_role, guard, state, user_role.tagged(config))
        return user_update(state, turn)

    def assistant_node(state: ConversationState, config: RunnableConfig) -> dict:
        reply = assistant_role.respond(state, assistant_role.tagged(config))
        return assistant_update(state, reply, met(state, reply))

    async def aassistant_node(state: ConversationState, config: RunnableConfig) -> dict:
        reply = await assistant_role.arespond(state, assistant_role.tagged(config))
        # A goal check may run hidden tests in the sandbox: keep it off the event loop.
        done = await asyncio.to_thread(met, state, reply) if grounded_stop else False
        return assistant_update(state, reply, done)

    builder = StateGraph(ConversationState)
    builder.add_node("simulated_user", role_node(user_role, user_node, auser_node))
    builder.add_node("assistant", role_node(assistant_role, assistant_node, aassistant_node))
    builder.add_conditional_edges(START, Step.route(first), ["simulated_user", "assistant", END])
    builder.add_conditional_edges("simulated_user", Step.route(after_user), ["assistant", END])
    builder.add_conditional_edges("assistant", Step.route(after_assistant), ["simulated_user", END])
    return builder.compile(name=name)
