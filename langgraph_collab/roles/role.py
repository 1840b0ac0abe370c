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

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config
from langgraph.errors import GraphBubbleUp

from langgraph_collab._runtime.traced import Step, atraced, traced
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
from langgraph_collab.roles.cache import fresh_calls

__all__ = ["MalformedReply", "Role", "describe_model", "role_node", "text_of", "transcript"]


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
    function's name), for error messages.

    Example:
        >>> from langgraph_collab.testing import ScriptedChatModel
        >>> def my_user(state):
        ...     return "Hi"
        >>> describe_model(my_user), describe_model(ScriptedChatModel(script=["Hi"]).bind(stop=[]))
        ('my_user', 'ScriptedChatModel')
    """
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
                    reply = await self.model.ainvoke(self.prepare(state), config)
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
    """The text of a model reply: a message, a string, or a ``{"messages": [...]}`` state.

    Example:
        >>> text_of({"messages": [HumanMessage("Hi"), AIMessage("Hello!")]}), text_of("Hey")
        ('Hello!', 'Hey')
        >>> text_of(None)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: expected a message or a string, got NoneType None: ...
    """
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
    """The conversation as plain text, one ``User:``/``Assistant:`` paragraph per turn.

    Example:
        >>> print(transcript([HumanMessage("2+2?"), AIMessage("4")]))
        User: 2+2?
        <BLANKLINE>
        Assistant: 4
    """
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
    and ``stop_reason="failure"`` in state; permanent errors and interrupts raise.

    Example:
        >>> from langchain_core.runnables import RunnableLambda
        >>> def unanswered(state):
        ...     raise TimeoutError("the server did not answer")
        >>> role = Role(name="simulated_user", model=RunnableLambda(unanswered), retries=0)
        >>> node = role_node(role, lambda state, config: {"messages": [role.respond(state)]},
        ...                  None)
        >>> node.invoke({"messages": []}, {})  # doctest: +NORMALIZE_WHITESPACE
        {'done': True, 'failure': 'simulated_user (unanswered): TimeoutError: the server did
         not answer (after 1 attempts)', 'stop_reason': 'failure'}
    """

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
