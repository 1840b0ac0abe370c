"""Where lookahead runs without touching the live thread: forks of the agent's state
(checkpointer threads or in-memory copies) and configs detached from the host run.

Private to the lookahead engine (:mod:`langgraph_collab.agents.lookahead`); the collaborative
node and middleware document the behaviour. Every fork's config carries :data:`FORK_KEY`,
so a :class:`~langgraph_collab.agents.middleware.CollaborativeMiddleware` inside the forked agent
passes its model calls straight through instead of looking ahead again.

Example:
    >>> from langgraph_collab.agents._forks import as_graph
    >>> from langgraph_collab.testing import ScriptedChatModel
    >>> graph = as_graph(ScriptedChatModel(script=["Hello"]))
    >>> graph.invoke({"messages": [("user", "Hi")]})["messages"][-1].content
    'Hello'
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.constants import CONF, CONFIG_KEY_CHECKPOINTER
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.pregel import Pregel

from langgraph_collab._runtime.traced import Step
from langgraph_collab.agents.contracts import Sampled
from langgraph_collab.roles.models import load_chat_model

AgentLike = Pregel | BaseChatModel | str | Runnable | Callable[[list[BaseMessage]], Any]
FORK_KEY = "collab_fork"
"""``configurable`` key set in every fork's config (its value: the fork's key)."""
_THREAD_KEYS = ("thread_id", "checkpoint_ns", "checkpoint_id", "checkpoint_map")


def in_fork(config: RunnableConfig) -> bool:
    """Whether ``config`` belongs to a candidate or future run of a lookahead."""
    return bool(config.get(CONF, {}).get(FORK_KEY))


def detached(
    config: RunnableConfig,
    *,
    saver: BaseCheckpointSaver | None = None,
    thread_id: str | None = None,
    name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    tags: Sequence[str] = (),
) -> RunnableConfig:
    """``config`` for a root run of its own (its own thread, or none), traced under the
    current run: the host run's internals, thread and checkpoint keys are dropped."""
    conf = {
        k: v
        for k, v in config.get(CONF, {}).items()
        if not k.startswith("__pregel_") and k not in _THREAD_KEYS
    }
    if saver is not None:
        conf.update({"thread_id": thread_id, CONFIG_KEY_CHECKPOINTER: saver})
    out: RunnableConfig = {
        "callbacks": config.get("callbacks"),
        "tags": [*config.get("tags", []), *tags],
        "metadata": {**config.get("metadata", {}), **(metadata or {})},
        CONF: conf,
    }
    if name:
        out["run_name"] = name
    return out


def as_graph(agent: AgentLike) -> Pregel:
    """The agent as a compiled graph over ``messages`` (a chat model: one ``model`` node)."""
    if isinstance(agent, Pregel):
        return agent
    if isinstance(agent, BaseChatModel | str):
        model: Runnable = load_chat_model(agent)
    elif isinstance(agent, Runnable) or callable(agent):
        model = agent if isinstance(agent, Runnable) else RunnableLambda(agent)
    else:
        raise TypeError(
            f"Cannot make {type(agent).__name__} collaborative: give a chat model, "
            "a model spec or a compiled graph"
        )

    def reply(out: Any) -> BaseMessage:
        return out if isinstance(out, BaseMessage) else AIMessage(str(out))

    def call(state: dict, config: RunnableConfig) -> dict:
        return {"messages": [reply(model.invoke(state["messages"], config))]}

    async def acall(state: dict, config: RunnableConfig) -> dict:
        return {"messages": [reply(await model.ainvoke(state["messages"], config))]}

    builder = StateGraph(MessagesState)
    builder.add_node("model", Step(call, acall, name="model", trace=False))
    builder.add_edge(START, "model")
    builder.add_edge("model", END)
    return builder.compile(name="agent")


class Forks:
    """Where one turn's candidates (``c<k>``) and futures (``c<k>s<s>``) run: threads of a
    checkpointer, forked with get_state/update_state, or in-memory copies of the state.

    A candidate either ran the agent in its own fork (:meth:`candidate`: the node) or is
    a state given whole (:meth:`adopt`: the middleware, whose candidates are model
    responses). ``sync``: the host runs sync, so the agent and the saver are called
    through their sync methods (on worker threads); ``gate`` is the turn's budget.
    """

    def __init__(
        self, graph: Pregel, config: RunnableConfig, *, fork: str, gate: Any, sync: bool
    ) -> None:
        saver = config.get(CONF, {}).get(CONFIG_KEY_CHECKPOINTER)
        if not isinstance(saver, BaseCheckpointSaver):
            own = graph.checkpointer
            saver = own if isinstance(own, BaseCheckpointSaver) else None
        if fork == "copy" or graph.checkpointer is False:
            saver = None
        if fork == "checkpoint" and saver is None:
            raise ValueError(
                "fork='checkpoint' needs a checkpointer: compile the host graph "
                "(or the agent) with one, or use fork='auto'"
            )
        if saver is None and graph.checkpointer not in (None, False):
            graph = graph.copy(update={"checkpointer": None})
        self.graph, self.saver, self.gate, self.sync = graph, saver, gate, sync
        self.mode = "checkpoint" if saver is not None else "copy"
        thread = config.get(CONF, {}).get("thread_id") or "collab"
        self.prefix = f"{thread}:collab:{uuid.uuid4().hex[:12]}"
        self.values: dict[str, dict] = {}
        self.adopted: dict[str, str] = {}  # candidate key -> the node it is written as
        self.threads: list[str] = []
        self.kept = False

    async def _run(self, values: dict, config: RunnableConfig) -> dict:
        if self.sync:
            return await asyncio.to_thread(self.graph.invoke, values, config)
        return await self.graph.ainvoke(values, config)

    def config(self, key: str, base: RunnableConfig, **options: Any) -> RunnableConfig:
        thread = f"{self.prefix}:{key}"
        if self.saver is not None and thread not in self.threads:
            self.threads.append(thread)
        config = detached(base, saver=self.saver, thread_id=thread, **options)
        config[CONF][FORK_KEY] = key
        return config

    async def candidate(self, k: int, values: dict, base: RunnableConfig) -> dict:
        """Run the agent on ``values`` (the host's state) as candidate ``k``."""
        meta = {"candidate_index": k}
        tags = ["role:candidate"]
        config = self.config(f"c{k}", base, name=f"candidate_{k}", metadata=meta, tags=tags)
        self.values[f"c{k}"] = await self._run(values, config)
        return self.values[f"c{k}"]

    def adopt(self, k: int, values: dict, *, as_node: str) -> None:
        """Take ``values`` (the state after candidate ``k``, as written by the agent's
        node ``as_node``) as candidate ``k``'s fork, without running the agent."""
        self.values[f"c{k}"] = {key: v for key, v in values.items() if key in self.graph.channels}
        self.adopted[f"c{k}"] = as_node

    def restore(self, sampled: Sampled) -> None:
        """Take over the forks that :meth:`candidate` made, maybe before an interrupt."""
        self.prefix, self.values = sampled["prefix"], {**self.values, **sampled["values"]}
        if self.saver is not None:
            self.threads = [f"{self.prefix}:{key}" for key in sampled["threads"]]

    def _seed(self, source: RunnableConfig, target: RunnableConfig) -> None:
        """Fork ``source``'s latest state into the new thread ``target``, as written by
        the node that ran last (so that nothing is left pending)."""
        snapshot = self.graph.get_state(source)
        history = list(self.graph.get_state_history(source, limit=2))
        last = history[1].tasks[-1].name if len(history) > 1 and history[1].tasks else None
        self.graph.update_state(target, snapshot.values, as_node=last)

    def _plant(self, values: dict, as_node: str, target: RunnableConfig) -> None:
        """Write ``values`` into the new thread ``target`` as ``as_node``'s output, with
        no step left pending (the next input starts a new turn of the agent)."""
        self.graph.update_state(target, values, as_node=as_node)
        if self.graph.get_state(target).next:
            self.graph.update_state(target, None, as_node=END)

    async def turn(self, k: int, s: int, message: HumanMessage, base: RunnableConfig) -> dict:
        """The agent's reply to ``message`` in future ``s`` of candidate ``k``."""
        key, source = f"c{k}s{s}", f"c{k}"
        config = self.config(key, base, metadata={"fork": key})
        if self.saver is not None:
            if key not in self.values:
                self.values[key] = {}
                if source in self.adopted:
                    values, node = self.values[source], self.adopted[source]
                    await asyncio.to_thread(self._plant, values, node, config)
                else:
                    await asyncio.to_thread(self._seed, self.config(source, base), config)
            return await self._run({"messages": [message]}, config)
        values = self.values.setdefault(key, self.values[source])
        values = {**values, "messages": [*values["messages"], message]}
        self.values[key] = await self._run(values, config)
        return self.values[key]

    async def close(self, keep: bool = False) -> None:
        """Delete the fork threads (unless ``keep`` or an interrupt still needs them)."""
        if self.saver is None or keep or self.kept:
            return
        for thread in self.threads:
            try:
                await asyncio.to_thread(self.saver.delete_thread, thread)
            except NotImplementedError:
                return
