"""Where the collaborative node's lookahead runs: the per-turn budget, forks of the agent's
state (checkpointer threads or in-memory copies) and configs detached from the host run.

Private to :mod:`langgraph_collab.node`, which documents the behaviour.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import BaseCallbackManager
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.constants import CONF, CONFIG_KEY_CHECKPOINTER
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.pregel import Pregel

from langgraph_collab.errors import BudgetExhausted, ScoringError, TransientFailure
from langgraph_collab.models import load_chat_model
from langgraph_collab.tracing import UsageLedger

AgentLike = Pregel | BaseChatModel | str | Runnable | Callable[[list[BaseMessage]], Any]
_THREAD_KEYS = ("thread_id", "checkpoint_ns", "checkpoint_id", "checkpoint_map")


@dataclass(frozen=True)
class Budget:
    """Per-turn limits on the lookahead (None: no limit): model calls, tokens (input +
    output) and seconds. Candidates are always sampled, and count; once the budget is
    spent no new model call starts, unfinished futures are masked (a call in flight when
    the seconds run out is abandoned, not interrupted), and the node answers with the best
    candidate scored so far (the first candidate when none is)."""

    calls: int | None = None
    tokens: int | None = None
    seconds: float | None = None


class Gate(UsageLedger):
    """Counts the turn's model calls and tokens; once ``enforce``, refuses calls past the
    budget by raising :class:`BudgetExhausted` into them."""

    raise_error = True
    run_inline = False  # raised from the concurrent handlers, after the inline ones ran

    def __init__(self, budget: Budget) -> None:
        super().__init__()
        self.budget, self.start, self.started = budget, time.monotonic(), 0
        self.enforce = self.exhausted = False

    def spent(self) -> tuple[int, int]:
        usage = self.by_role().values()
        return self.started, sum(u.input_tokens + u.output_tokens for u in usage)

    def seconds_left(self) -> float | None:
        if self.budget.seconds is None:
            return None
        return max(0.0, self.budget.seconds - (time.monotonic() - self.start))

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        _, tokens = self.spent()
        limit = self.budget
        with self._lock:  # check and count at once: concurrent calls cannot overshoot
            over = self.enforce and (
                (limit.calls is not None and self.started >= limit.calls)
                or (limit.tokens is not None and tokens >= limit.tokens)
                or self.seconds_left() == 0.0
            )
            self.started += not over
        if over:
            self.exhausted = True
            raise BudgetExhausted("the turn's lookahead budget is spent")
        super().on_chat_model_start(serialized, messages, **kwargs)

    async def within(self, coroutines: Sequence[Awaitable]) -> list[Any]:
        """Run ``coroutines`` concurrently until the seconds budget ends: the results of
        those that finished in time, None for those that ran out of budget or failed with
        a transient error; a permanent error raises."""
        jobs = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
        done, pending = await asyncio.wait(jobs, timeout=self.seconds_left())
        for job in pending:
            self.exhausted = True
            job.cancel()
        return [_kept(job.exception(), job) if job in done else None for job in jobs]


def _kept(error: BaseException | None, job: asyncio.Future) -> Any:
    """A finished job's result; None for a budget cut or a transient failure; raises the
    rest."""
    if error is None:
        return job.result()
    if isinstance(error, BudgetExhausted | TransientFailure | ScoringError):
        return None
    raise error


async def gather_kept(coroutines: Sequence[Awaitable]) -> list[tuple[int, Any]]:
    """``(index, result)`` of the coroutines that returned something; a permanent error
    raises at once, and when none returned anything the first error raises."""
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    for error in errors:
        if not isinstance(error, BudgetExhausted | TransientFailure | ScoringError):
            raise error
    kept = [
        (k, r) for k, r in enumerate(results) if r is not None and not isinstance(r, BaseException)
    ]
    if not kept:
        raise errors[0] if errors else ValueError("the agent gave no reply with text")
    return kept


def with_handler(config: RunnableConfig, handler: Any) -> RunnableConfig:
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        callbacks = callbacks.copy()
        callbacks.add_handler(handler, inherit=True)
    else:
        callbacks = [*(callbacks or []), handler]
    return {**config, "callbacks": callbacks}


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
    builder.add_node("model", RunnableLambda(call, afunc=acall, name="model"))
    builder.add_edge(START, "model")
    builder.add_edge("model", END)
    return builder.compile(name="agent")


class Forks:
    """Where one turn's candidates (``c<k>``) and futures (``c<k>s<s>``) run: threads of a
    checkpointer, forked with get_state/update_state, or in-memory copies of the state.

    ``sync``: the host runs sync, so the agent and the saver are called through their
    sync methods (on worker threads); ``gate`` is the turn's budget.
    """

    def __init__(
        self, graph: Pregel, config: RunnableConfig, *, fork: str, gate: Gate, sync: bool
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
        return detached(base, saver=self.saver, thread_id=thread, **options)

    async def candidate(self, k: int, values: dict, base: RunnableConfig) -> dict:
        """Run the agent on ``values`` (the host's state) as candidate ``k``."""
        meta = {"candidate_index": k}
        tags = ["role:candidate"]
        config = self.config(f"c{k}", base, name=f"candidate_{k}", metadata=meta, tags=tags)
        self.values[f"c{k}"] = await self._run(values, config)
        return self.values[f"c{k}"]

    def restore(self, found: dict) -> None:
        """Take over the forks that :meth:`candidate` made, maybe before an interrupt."""
        self.prefix, self.values = found["prefix"], {**self.values, **found["values"]}
        if self.saver is not None:
            self.threads = [f"{self.prefix}:c{k}" for k in range(found["n"])]

    def _seed(self, source: RunnableConfig, target: RunnableConfig) -> None:
        """Fork ``source``'s latest state into the new thread ``target``, as written by
        the node that ran last (so that nothing is left pending)."""
        snapshot = self.graph.get_state(source)
        history = list(self.graph.get_state_history(source, limit=2))
        last = history[1].tasks[-1].name if len(history) > 1 and history[1].tasks else None
        self.graph.update_state(target, snapshot.values, as_node=last)

    async def turn(self, k: int, s: int, message: HumanMessage, base: RunnableConfig) -> dict:
        """The agent's reply to ``message`` in future ``s`` of candidate ``k``."""
        key, source = f"c{k}s{s}", f"c{k}"
        config = self.config(key, base, metadata={"fork": key})
        if self.saver is not None:
            if key not in self.values:
                self.values[key] = {}
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
