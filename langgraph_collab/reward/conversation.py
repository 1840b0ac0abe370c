"""The conversation graph: a simulated user and an assistant taking turns, as a cycle.

``simulated_user -> assistant -> simulated_user -> ...`` until the user writes
``[[TERMINATE CHAT]]``, the turn budget in state (``max_turns`` assistant replies) is spent,
or a role fails for good (recorded in ``failure``). The graph starts with whoever is due:
the user on an empty conversation or after an assistant reply, the assistant after a user
message. Forward sampling runs the same turns with ``max_turns=w``, as a plain loop
(:meth:`Turns.run`) unless asked for the subgraph.

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

from langgraph_collab._runtime.plain_loop import PlainLoop
from langgraph_collab._runtime.traced import Step
from langgraph_collab.reward.fidelity import (
    FidelityGuard,
    UserTurn,
    auser_turn,
    resolve_guard,
    user_turn,
)
from langgraph_collab.reward.stopping import goal_met
from langgraph_collab.roles.assistant import AssistantLike, create_assistant
from langgraph_collab.roles.role import role_node
from langgraph_collab.roles.user import UserLike, create_simulated_user, is_terminal
from langgraph_collab.state import ConversationState

DEFAULT_MAX_TURNS = 7
"""Seven assistant turns: the paper's 14-message conversations."""


def recursion_limit(max_turns: int) -> int:
    """A ``recursion_limit`` safety net above what a ``max_turns`` budget can need: the
    budget in state ends the conversation, this only stops a graph that ignored it.

    Example:
        >>> recursion_limit(2)
        9
    """
    return 2 * max_turns + 5


class Turns:
    """The conversation's nodes and routes, runnable two ways with the same behaviour: as
    the compiled cyclic graph (:meth:`graph`: each turn a super-step, checkpointed and
    streamed like any LangGraph node) or as a plain loop over the same steps (:meth:`run`,
    :meth:`arun`, :class:`~langgraph_collab._runtime.plain_loop.PlainLoop`: one traced run
    per turn, less CPU per turn (``benchmarks/framework_cost.py`` measures it); forward
    sampling makes thousands of short conversations).

    Build it with :func:`create_conversation_turns`; the options are those of
    :func:`create_conversation_graph`.

    Example:
        >>> from langgraph_collab import Task
        >>> turns = create_conversation_turns(
        ...     user=lambda s: "Bye [[TERMINATE CHAT]]" if s["messages"] else "What is 2+2?",
        ...     assistant=lambda messages: "4", max_turns=3)
        >>> state = {"messages": [], "task": Task(request="What is 2+2?")}
        >>> out = turns.run(state)
        >>> [m.content for m in out["messages"]], out["stop_reason"]
        (['What is 2+2?', '4', 'Bye [[TERMINATE CHAT]]'], 'user')
        >>> [m.content for m in turns.graph().invoke(state)["messages"]]
        ['What is 2+2?', '4', 'Bye [[TERMINATE CHAT]]']
    """

    def __init__(
        self,
        *,
        user: UserLike,
        assistant: AssistantLike,
        max_turns: int,
        fidelity: FidelityGuard | bool,
        grounded_stop: bool,
    ) -> None:
        if max_turns < 0:
            raise ValueError(f"max_turns must be >= 0, got {max_turns}")
        self.user = create_simulated_user(user)
        self.assistant = create_assistant(assistant)
        self.max_turns = max_turns
        self.guard = resolve_guard(fidelity)
        self.grounded_stop = grounded_stop
        self.nodes = {
            USER: role_node(self.user, self._user_node, self._auser_node),
            ASSISTANT: role_node(self.assistant, self._assistant_node, self._aassistant_node),
        }
        self.routes = {USER: self._after_user, ASSISTANT: self._after_assistant}
        self._loop = PlainLoop(
            ConversationState, nodes=self.nodes, routes=self.routes, first=self._first
        )

    def _budget_left(self, state: ConversationState) -> bool:
        return state.get("turn", 0) < state.get("max_turns", self.max_turns)

    def _first(self, state: ConversationState) -> str:
        if state.get("done") or not self._budget_left(state):
            return END
        messages = state.get("messages") or []
        return ASSISTANT if messages and isinstance(messages[-1], HumanMessage) else USER

    def _after_user(self, state: ConversationState) -> str:
        return END if state.get("done") else ASSISTANT

    def _after_assistant(self, state: ConversationState) -> str:
        return END if state.get("done") or not self._budget_left(state) else USER

    @staticmethod
    def _user_update(turn: UserTurn) -> dict:
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

    def _assistant_update(self, state: ConversationState, reply: AIMessage, met: bool) -> dict:
        turn = state.get("turn", 0) + 1
        out: dict = {"messages": [reply], "turn": turn}
        if met:
            out |= {"done": True, "stop_reason": "goal_met"}
        elif turn >= state.get("max_turns", self.max_turns):
            out["stop_reason"] = "budget"
        return out

    def _met(self, state: ConversationState, reply: AIMessage) -> bool:
        messages = [*state.get("messages", []), reply]
        return self.grounded_stop and goal_met(state["task"], messages)

    def _user_node(self, state: ConversationState, config: RunnableConfig) -> dict:
        turn = user_turn(self.user, self.guard, state, self.user.tagged(config))
        return self._user_update(turn)

    async def _auser_node(self, state: ConversationState, config: RunnableConfig) -> dict:
        turn = await auser_turn(self.user, self.guard, state, self.user.tagged(config))
        return self._user_update(turn)

    def _assistant_node(self, state: ConversationState, config: RunnableConfig) -> dict:
        reply = self.assistant.respond(state, self.assistant.tagged(config))
        return self._assistant_update(state, reply, self._met(state, reply))

    async def _aassistant_node(self, state: ConversationState, config: RunnableConfig) -> dict:
        reply = await self.assistant.arespond(state, self.assistant.tagged(config))
        # A goal check may run hidden tests in the sandbox: keep it off the event loop.
        met = await asyncio.to_thread(self._met, state, reply) if self.grounded_stop else False
        return self._assistant_update(state, reply, met)

    def graph(self, *, name: str = "conversation") -> CompiledStateGraph:
        """The cyclic graph over :class:`ConversationState`, compiled as ``name``."""
        builder = StateGraph(ConversationState)
        for node, step in self.nodes.items():
            builder.add_node(node, step)
        builder.add_conditional_edges(START, Step.route(self._first), [USER, ASSISTANT, END])
        builder.add_conditional_edges(USER, Step.route(self._after_user), [ASSISTANT, END])
        builder.add_conditional_edges(ASSISTANT, Step.route(self._after_assistant), [USER, END])
        return builder.compile(name=name)

    def run(self, state: ConversationState, config: RunnableConfig | None = None) -> dict:
        """The conversation from ``state`` as a plain loop: what :meth:`graph` returns,
        with a run per turn (named after its node) under the caller's run."""
        return self._loop.run(state, config)

    async def arun(self, state: ConversationState, config: RunnableConfig | None = None) -> dict:
        """Async :meth:`run`."""
        return await self._loop.arun(state, config)


USER, ASSISTANT = "simulated_user", "assistant"
"""The conversation graph's node names (and the runs of the turns in a trace)."""


def create_conversation_turns(
    *,
    user: UserLike,
    assistant: AssistantLike,
    max_turns: int = DEFAULT_MAX_TURNS,
    fidelity: FidelityGuard | bool = True,
    grounded_stop: bool = False,
) -> Turns:
    """The conversation's :class:`Turns`, to run as a graph or as a plain loop; options as
    :func:`create_conversation_graph`.

    Example:
        >>> turns = create_conversation_turns(user=lambda s: "Hi", assistant=lambda m: "Hello")
        >>> sorted(turns.nodes)
        ['assistant', 'simulated_user']
    """
    return Turns(
        user=user, assistant=assistant, max_turns=max_turns, fidelity=fidelity,
        grounded_stop=grounded_stop,
    )  # fmt: skip


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
            :func:`~langgraph_collab.reward.fidelity.create_fidelity_guard`; a guard of your own;
            False: none). A failing turn is regenerated; one that keeps failing ends the
            run with a ``failure``. Counts go to ``fidelity`` in state.
        grounded_stop: End the chat when the task's goal is met (see
            :mod:`langgraph_collab.reward.stopping`), not only on the user's stop token.
        name: The compiled graph's name.

    Input state: ``messages`` (possibly empty) and ``task``; optionally ``max_turns``.
    Output adds ``stop_reason``: ``user``, ``goal_met``, ``budget`` or ``failure``.

    Example:
        >>> from langgraph_collab import Task
        >>> chat = create_conversation_graph(
        ...     user=lambda s: "Bye [[TERMINATE CHAT]]" if s["messages"] else "What is 2+2?",
        ...     assistant=lambda messages: "4", max_turns=3)
        >>> out = chat.invoke({"messages": [], "task": Task(request="What is 2+2?")})
        >>> [m.content for m in out["messages"]], out["stop_reason"]
        (['What is 2+2?', '4', 'Bye [[TERMINATE CHAT]]'], 'user')
    """
    turns = create_conversation_turns(
        user=user, assistant=assistant, max_turns=max_turns, fidelity=fidelity,
        grounded_stop=grounded_stop,
    )  # fmt: skip
    return turns.graph(name=name)
