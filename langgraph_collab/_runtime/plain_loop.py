"""A state graph's nodes and routes run as a plain loop: the same steps, state updates and
routes as the compiled graph, without Pregel's super-steps, channels and checkpoints.

Forward sampling runs many short conversations inside one checkpointed step; there the
graph machinery per turn costs more than the turn's own work (``benchmarks/framework_cost.py``
compares the two). Each node still runs as one traced run named after it. Updates are
applied as LangGraph applies them: the keys the schema annotates with a reducer
(``Annotated[type, reducer]``) through it, every other key replaced.

Example:
    >>> from langgraph_collab._runtime.traced import Step
    >>> from langgraph_collab.state import ConversationState
    >>> say = Step(lambda s, c: {"messages": [("user", "hi")], "turn": s["turn"] + 1}, name="say")
    >>> loop = PlainLoop(ConversationState, nodes={"say": say},
    ...                  routes={"say": lambda s: "say" if s["turn"] < 2 else END},
    ...                  first=lambda s: "say")
    >>> out = loop.run({"messages": [], "turn": 0})
    >>> [m.content for m in out["messages"]], out["turn"]
    (['hi', 'hi'], 2)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from langchain_core.runnables import RunnableConfig, ensure_config
from langgraph.graph import END

from langgraph_collab._runtime.traced import Step, atraced, traced

Route = Callable[[Any], str]


def reduced_keys(schema: type) -> dict[str, tuple[Callable[[Any, Any], Any], Callable[[], Any]]]:
    """The keys of a graph state that a reducer merges (``Annotated[type, reducer]``), each
    with its reducer and what makes its start value (the type, called without arguments
    as LangGraph starts such a channel)."""
    keys = {}
    for key, hint in get_type_hints(schema, include_extras=True).items():
        if get_origin(hint) is Annotated:
            kind, *extras = get_args(hint)
            keys[key] = (extras[-1], get_origin(kind) or kind)
    return keys


class PlainLoop:
    """``nodes`` (each a :class:`~langgraph_collab._runtime.traced.Step`) run from
    ``first(state)``, each followed by ``routes[node](state)``, until a route says
    ``END``; the state is a ``schema`` dict."""

    def __init__(
        self,
        schema: type,
        *,
        nodes: Mapping[str, Step],
        routes: Mapping[str, Route],
        first: Route,
    ) -> None:
        self.nodes, self.routes, self.first = nodes, routes, first
        self.reduced = reduced_keys(schema)

    def empty(self) -> dict:
        """The state before the input: the reduced keys at their start values, as in the
        graph (fresh ones each time: a run may hand them back untouched)."""
        return {key: start() for key, (_, start) in self.reduced.items()}

    def merged(self, state: dict, update: dict) -> dict:
        """``state`` with a node's ``update`` applied as the graph applies it."""
        out = {**state, **update}
        for key, (reduce, start) in self.reduced.items():
            if key in update:
                current = state.get(key)
                out[key] = reduce(start() if current is None else current, update[key])
        return out

    def run(self, state: dict, config: RunnableConfig | None = None) -> dict:
        """The loop from ``state``: what the compiled graph would return."""
        config = ensure_config(config)
        state, node = self.merged(self.empty(), state), self.first(state)
        while node != END:
            update = traced(self.nodes[node].func, state, config, name=node)
            state = self.merged(state, update)
            node = self.routes[node](state)
        return state

    async def arun(self, state: dict, config: RunnableConfig | None = None) -> dict:
        """Async :meth:`run`."""
        config = ensure_config(config)
        state, node = self.merged(self.empty(), state), self.first(state)
        while node != END:
            update = await atraced(self.nodes[node].afunc, state, config, name=node)
            state = self.merged(state, update)
            node = self.routes[node](state)
        return state


__all__ = ["PlainLoop", "reduced_keys"]
