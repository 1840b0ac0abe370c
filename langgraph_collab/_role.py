"""What the simulated user, the assistant and the judges share: a named, retried Runnable.

A role takes the conversation state (``{"messages": [...], "task": Task}``) and returns
its output (a message, or a judgement). Transient errors are retried with backoff (see
:mod:`langgraph_collab.errors`); one that outlives the retries raises
:class:`~langgraph_collab.errors.TransientFailure`, which the graph node around a role
records as the run's ``failure`` (the sample is masked). A permanent error (a wrong key, a
bug in a callable) raises :class:`~langgraph_collab.errors.PermanentError` at once, naming
the role and the model, and is never turned into a quiet default.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.callbacks import BaseCallbackManager
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
    get_callback_manager_for_config,
    set_config_context,
)
from langchain_core.runnables.utils import coro_with_context
from langgraph.errors import GraphBubbleUp

from langgraph_collab._stagger import leave_line
from langgraph_collab.cache import fresh_calls
from langgraph_collab.errors import (
    DEFAULT_BACKOFF,
    Backoff,
    BudgetExhausted,
    MalformedReply,
    PermanentError,
    TransientFailure,
    cut_by_budget,
    is_transient,
)

__all__ = [
    "MalformedReply",
    "Role",
    "Step",
    "atraced",
    "describe_model",
    "role_node",
    "text_of",
    "traced",
    "transcript",
]

Call = Callable[[Any, RunnableConfig], Any]
ACall = Callable[[Any, RunnableConfig], Awaitable[Any]]


def traced(func: Call, input: Any, config: RunnableConfig | None, *, name: str) -> Any:
    """``func(input, child_config)`` as one traced chain run named ``name`` (or the
    config's ``run_name``), its child runs under it.

    What ``Runnable._call_with_config`` does, minus its per-call signature inspection of
    ``func`` (a fifth of the framework's CPU per model call in forward sampling, which
    makes many short calls): ``func`` always takes ``(input, config)``.

    Example:
        >>> traced(lambda x, config: x + 1, 1, None, name="add_one")
        2
    """
    config = ensure_config(config)
    manager = get_callback_manager_for_config(config)
    if _unheard(manager):
        return func(input, _untraced(config))
    run = manager.on_chain_start(
        None, input, name=config.get("run_name") or name, run_id=config.pop("run_id", None)
    )
    child = _child(config, run)
    try:
        with set_config_context(child) as context:
            output = context.run(func, input, child)
    except BaseException as error:
        run.on_chain_error(error)
        raise
    run.on_chain_end(output)
    return output


def _unheard(manager: BaseCallbackManager) -> bool:
    """Whether no handler would hear of a chain run: none is attached, or each ignores
    chains (usage ledgers, call gates). Such a run is skipped: opening and closing it
    costs more CPU than a short turn's own work, and nobody could see it. A tracer, a
    run recorder or ``astream_events`` hears chains, and then every run is opened."""
    return all(handler.ignore_chain for handler in manager.handlers)


def _untraced(config: RunnableConfig) -> RunnableConfig:
    """``config`` for the body of a run: without the run's name and id, which name this
    run, not its children."""
    config = {**config}
    config.pop("run_name", None)
    config.pop("run_id", None)
    return config  # type: ignore[return-value]


def _child(config: RunnableConfig, run: Any) -> RunnableConfig:
    """``patch_config(config, callbacks=run.get_child())`` for an ensured ``config``,
    without ensuring (and so copying its callbacks) once more."""
    return {**_untraced(config), "callbacks": run.get_child()}  # type: ignore[return-value]


async def atraced(afunc: ACall, input: Any, config: RunnableConfig | None, *, name: str) -> Any:
    """Async :func:`traced`."""
    config = ensure_config(config)
    manager = get_async_callback_manager_for_config(config)
    if _unheard(manager):
        return await afunc(input, _untraced(config))
    run = await manager.on_chain_start(
        None, input, name=config.get("run_name") or name, run_id=config.pop("run_id", None)
    )
    child = _child(config, run)
    try:
        with set_config_context(child) as context:
            output = await coro_with_context(afunc(input, child), context)
    except BaseException as error:
        await run.on_chain_error(error)
        raise
    await run.on_chain_end(output)
    return output


class Step(Runnable[Any, Any]):
    """A step with a sync and an async body, each ``(input, config)``: a lean
    ``RunnableLambda(func, afunc=...)``. Traced as one run named ``name``, unless
    ``trace=False``: a graph node, whose run LangGraph already opens (a traced Runnable
    node would nest a second run of the same name under it).

    Example:
        >>> Step(lambda x, config: x * 2, name="double").invoke(21)
        42
    """

    def __init__(
        self, func: Call, afunc: ACall | None = None, *, name: str, trace: bool = True
    ) -> None:
        self.func, self.afunc, self.name, self.trace = func, afunc, name, trace

    @classmethod
    def route(cls, func: Callable[[Any], Any]) -> Step:
        """``func(state)``, a graph's routing function, as an untraced step: the route
        taken shows in the trace as the next node's run, and a traced run per routing
        decision cost more CPU than the decision itself.

        Example:
            >>> Step.route(lambda state: "end" if state["done"] else "next").invoke({"done": 1})
            'end'
        """

        async def afunc(state: Any, config: RunnableConfig) -> Any:
            return func(state)

        name = getattr(func, "__name__", "route")
        return cls(lambda state, config: func(state), afunc, name=name, trace=False)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if not self.trace:
            return self.func(input, ensure_config(config))
        return traced(self.func, input, config, name=self.name)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if self.afunc is None:
            return await super().ainvoke(input, config, **kwargs)
        if not self.trace:
            return await self.afunc(input, ensure_config(config))
        return await atraced(self.afunc, input, config, name=self.name)


def _inner(runnable: Any) -> Any:
    """The chat model (or callable) inside bindings, sequences and fallbacks."""
    for _ in range(8):
        inner = next(
            (
                getattr(runnable, attr)
                for attr in ("bound", "first", "runnable", "func")
                if getattr(runnable, attr, None) is not None
            ),
            None,
        )
        if inner is None:
            break
        runnable = inner
    return runnable


def describe_model(runnable: Any) -> str | None:
    """A readable name of the model a role calls (``gpt-4o-mini``, a GGUF file name, a
    function's name), for error messages."""
    inner = _inner(runnable)
    for attr in ("model_name", "model", "model_path"):
        value = getattr(inner, attr, None)
        if isinstance(value, str) and value:
            return value.rsplit("/", 1)[-1] if attr == "model_path" else value
    return getattr(inner, "__name__", None) or type(inner).__name__


def _sdk_retries(runnable: Any) -> int:
    """Retries the model's own SDK makes on transient HTTP errors (``max_retries``)."""
    value = getattr(_inner(runnable), "max_retries", 0)
    return value if isinstance(value, int) else 0


class Role(Runnable[dict, Any]):
    """A named participant: ``parse(model(prepare(state)), state)``, retried, traced as one
    run named ``name`` and tagged ``role:<name>`` (inherited by its model calls).

    One run per role call, with the model call under it: the whole retry loop lives here
    rather than in nested Runnable wrappers, which keeps traces readable and the per-call
    overhead small (forward sampling makes many short calls). ``retries`` extra attempts
    follow a transient error, waiting as ``backoff`` says; ``chat_model`` names the model
    inside ``model`` (when it is wrapped) for error messages and for its SDK's own retries.

    Example:
        >>> from langchain_core.runnables import RunnableLambda
        >>> echo = Role(name="echo", model=RunnableLambda(lambda messages: messages[-1]),
        ...             prepare=lambda state: state["messages"])
        >>> echo.invoke({"messages": [HumanMessage("hi")]}).content
        'hi'
    """

    def __init__(
        self,
        *,
        name: str,
        model: Runnable,
        prepare: Callable[[dict], Any] = lambda state: state,
        parse: Callable[[Any, dict], Any] = lambda reply, state: reply,
        retries: int = 0,
        backoff: Backoff = DEFAULT_BACKOFF,
        chat_model: Any = None,
    ) -> None:
        self.name = name
        self.model = model
        self.prepare = prepare
        self.parse = parse
        self.retries = retries
        self.backoff = backoff
        inner = chat_model if chat_model is not None else model
        self.model_name = describe_model(inner)
        self._sdk_retries = _sdk_retries(inner)

    def _verdict(self, error: Exception, attempt: int) -> float:
        """Seconds to wait before the next attempt, or raise: at once for a permanent
        error, after the last attempt for a transient one. An SDK that already retries
        HTTP errors itself (``max_retries``) is not retried again on top: only replies the
        role cannot use are."""
        if isinstance(error, PermanentError | TransientFailure | BudgetExhausted):
            raise error  # decided already: by an inner role, or a spent budget
        if not is_transient(error):
            raise PermanentError(self.name, error, model=self.model_name) from error
        own_policy = isinstance(error, MalformedReply) or self._sdk_retries == 0
        if attempt >= self.retries or not own_policy:
            attempts = attempt + 1 + (0 if own_policy else self._sdk_retries)
            raise TransientFailure(
                self.name, error, attempts=attempts, model=self.model_name
            ) from error
        return self.backoff.delay(attempt, error)

    def tagged(self, config: RunnableConfig | None) -> RunnableConfig:
        """``config`` with this role's ``role:<name>`` tag added."""
        config = config if config is not None else ensure_config()
        return {**config, "tags": [*config.get("tags", []), f"role:{self.name}"]}

    def _run_config(self, config: RunnableConfig | None) -> RunnableConfig:
        return {**self.tagged(config), "run_name": self.name}

    def respond(self, state: dict, config: RunnableConfig | None = None) -> Any:
        """Run the role without a run of its own (for a graph node named after the role):
        ``config`` should come from :meth:`tagged`."""
        attempt, fresh = 0, False
        while True:
            try:
                with fresh_calls(fresh):  # after a reply it could not use: not the cache's
                    return self.parse(self.model.invoke(self.prepare(state), config), state)
            except GraphBubbleUp:
                raise
            except Exception as error:  # classified: permanent raises, transient waits
                time.sleep(self._verdict(error, attempt))
                fresh = isinstance(error, MalformedReply)
            attempt += 1

    async def arespond(self, state: dict, config: RunnableConfig | None = None) -> Any:
        """Async :meth:`respond`."""
        attempt, fresh = 0, False
        while True:
            try:
                with fresh_calls(fresh):
                    prepared = self.prepare(state)
                    leave_line()  # a future's start-up ends where its first model call begins
                    reply = await self.model.ainvoke(prepared, config)
                return self.parse(reply, state)
            except GraphBubbleUp:
                raise
            except Exception as error:  # classified: permanent raises, transient waits
                await asyncio.sleep(self._verdict(error, attempt))
                fresh = isinstance(error, MalformedReply)
            attempt += 1

    def invoke(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return traced(self.respond, input, self._run_config(config), name=self.name)

    async def ainvoke(
        self, input: dict, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        return await atraced(self.arespond, input, self._run_config(config), name=self.name)


def text_of(reply: Any) -> str:
    """The text of a model reply: a message, a string, or a ``{"messages": [...]}`` state."""
    if isinstance(reply, dict) and "messages" in reply:
        ai = [m for m in reply["messages"] if isinstance(m, AIMessage)]
        if not ai:
            raise MalformedReply("the agent returned no AI message")
        reply = ai[-1]
    if isinstance(reply, BaseMessage):
        return reply.text
    if isinstance(reply, str):
        return reply
    # No chat model replies with anything else: a callable (or agent) returned the wrong
    # type, a bug that a retry repeats, so not a MalformedReply (transient) but permanent.
    raise TypeError(
        f"expected a message or a string, got {type(reply).__name__} {reply!r:.80}: a "
        "callable must return a str or an AIMessage"
    )


def transcript(messages: list[BaseMessage]) -> str:
    """The conversation as plain text, one ``User:``/``Assistant:`` paragraph per turn."""
    lines = []
    for message in messages:
        if isinstance(message, HumanMessage):
            lines.append(f"User: {message.text}")
        elif isinstance(message, AIMessage) and message.text:
            lines.append(f"Assistant: {message.text}")
    return "\n\n".join(lines)


def role_node(
    role: Role,
    run: Callable[[dict, RunnableConfig], dict],
    arun: Callable[[dict, RunnableConfig], Awaitable[dict]],
) -> Step:
    """A graph node named after ``role`` running ``run`` / ``arun`` (which call the role
    with :meth:`Role.respond` and build the state update). A transient failure that
    outlived the role's retries, or a spent lookahead budget, ends the run with ``failure``
    and ``stop_reason="failure"`` in state; permanent errors and interrupts raise."""

    def failed(error: TransientFailure | BudgetExhausted) -> dict:
        reason = cut_by_budget(error) if isinstance(error, BudgetExhausted) else str(error)
        return {"done": True, "failure": reason, "stop_reason": "failure"}

    def sync(state: dict, config: RunnableConfig) -> dict:
        try:
            return run(state, config)
        except (TransientFailure, BudgetExhausted) as error:
            return failed(error)

    async def async_(state: dict, config: RunnableConfig) -> dict:
        try:
            return await arun(state, config)
        except (TransientFailure, BudgetExhausted) as error:
            return failed(error)

    return Step(sync, async_, name=role.name, trace=False)
