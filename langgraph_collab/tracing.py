"""Tracing helpers: a usage ledger per role, fed by LangChain callbacks.

Every role tags its runs ``role:<name>``, so one callback handler attached to a graph run
sees each chat-model call with its role (and the ``candidate_index`` metadata the reward
graph sets), whether or not LangSmith tracing is on.

Example:
    >>> from langgraph_collab.tracing import UsageLedger
    >>> ledger = UsageLedger()
    >>> # graph.invoke(inputs, {"callbacks": [ledger]}); ledger.by_role()
    >>> ledger.by_role()
    {}
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import http.client
import os
import threading
import urllib.request
import warnings
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import (
    AsyncCallbackHandler,
    BaseCallbackHandler,
    BaseCallbackManager,
)
from langchain_core.outputs import LLMResult
from langchain_core.runnables import RunnableConfig
from langsmith import run_trees
from langsmith.run_helpers import tracing_context
from langsmith.utils import get_api_url, tracing_is_enabled
from pydantic import BaseModel

CACHE_HIT = "cache_hit"
"""The key a reply from the call cache carries in its response metadata and generation
info: a cache hit is counted apart from model calls."""


class RoleUsage(BaseModel):
    """Model calls and tokens spent by one role. ``calls`` are the requests that reached
    the model (failed ones included, also counted in ``errors``); ``cache_hits`` the calls
    a call cache answered instead (:mod:`langgraph_collab.roles.cache`), whose tokens were not
    spent and are not counted. ``cached_input_tokens``: the part of ``input_tokens`` the
    provider served from its prompt cache (OpenAI's ``cached_tokens``, LangChain's
    ``input_token_details["cache_read"]``), where the server reports it; a prompt whose
    fixed part comes first is what such a cache can reuse."""

    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_hits: int = 0
    cached_input_tokens: int = 0

    def __add__(self, other: RoleUsage) -> RoleUsage:
        fields = type(self).model_fields
        return RoleUsage(**{name: getattr(self, name) + getattr(other, name) for name in fields})


def role_of(tags: list[str] | None) -> str:
    """The innermost ``role:`` tag of a run, or ``"other"``."""
    roles = [tag.removeprefix("role:") for tag in tags or [] if tag.startswith("role:")]
    return roles[-1] if roles else "other"


def is_cache_hit(response: LLMResult) -> bool:
    """Whether a call was answered by a call cache (:mod:`langgraph_collab.roles.cache` marks
    its replies' ``generation_info``)."""
    return any(
        (generation.generation_info or {}).get(CACHE_HIT)
        for generations in response.generations
        for generation in generations
    )


def _usage_metadata(response: LLMResult) -> dict[str, Any] | None:
    """The first reply message's LangChain ``usage_metadata``, if any reports one."""
    for generations in response.generations:
        for generation in generations:
            usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
            if usage:
                return usage
    return None


def cached_input_of(response: LLMResult) -> int:
    """Input tokens a provider's prompt cache served for a call (0 when it reports none).

    Example:
        >>> from langchain_core.messages import AIMessage
        >>> from langchain_core.outputs import ChatGeneration
        >>> usage = {"input_tokens": 900, "output_tokens": 10, "total_tokens": 910,
        ...          "input_token_details": {"cache_read": 768}}
        >>> message = AIMessage("hi", usage_metadata=usage)
        >>> cached_input_of(LLMResult(generations=[[ChatGeneration(message=message)]]))
        768
    """
    usage = _usage_metadata(response)
    if usage:
        return (usage.get("input_token_details") or {}).get("cache_read", 0) or 0
    token_usage = (response.llm_output or {}).get("token_usage") or {}
    return (token_usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0) or 0


def usage_of(response: LLMResult) -> tuple[int, int]:
    """``(input_tokens, output_tokens)`` of a chat-model call, 0s when it reports none."""
    usage = _usage_metadata(response)
    if usage:
        return usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    token_usage = (response.llm_output or {}).get("token_usage") or {}
    return token_usage.get("prompt_tokens", 0), token_usage.get("completion_tokens", 0)


class UsageLedger(BaseCallbackHandler):
    """Counts chat-model calls, errors, tokens and cache hits per role, and per group: the
    value of the run metadata key ``group_by`` (the reward graph's ``candidate_index``, the
    collection's ``task_id``). A call answered by a call cache counts as a cache hit, not
    a call, and adds no tokens.

    Thread-safe and run inline, so it is exact under async fan-out. It listens to chat
    models only: chain, retriever and agent events are not dispatched to it.
    """

    run_inline = True
    ignore_chain = ignore_retriever = ignore_agent = ignore_retry = True

    def __init__(self, group_by: str = "candidate_index") -> None:
        self.group_by = group_by
        self._lock = threading.Lock()
        self._open: dict[UUID, tuple[str, Any]] = {}
        self._usage: dict[tuple[str, Any], RoleUsage] = {}

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        key = (role_of(tags), (metadata or {}).get(self.group_by))
        with self._lock:
            self._open[run_id] = key

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        if is_cache_hit(response):
            self._close(run_id, RoleUsage(cache_hits=1))
            return
        input_tokens, output_tokens = usage_of(response)
        usage = RoleUsage(
            calls=1,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_input_of(response),
        )
        self._close(run_id, usage)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id, RoleUsage(calls=1, errors=1))

    def _close(self, run_id: UUID, usage: RoleUsage) -> None:
        with self._lock:
            key = self._open.pop(run_id, None)
            if key is not None:
                self._usage[key] = self._usage.get(key, RoleUsage()) + usage

    def by_role(self, group: Any = None) -> dict[str, RoleUsage]:
        """Usage per role, over all calls or over one group's."""
        totals: dict[str, RoleUsage] = {}
        with self._lock:
            for (role, key), usage in self._usage.items():
                if group is None or key == group:
                    totals[role] = totals.get(role, RoleUsage()) + usage
        return totals


def with_callback(config: RunnableConfig | None, handler: BaseCallbackHandler) -> RunnableConfig:
    """``config`` with ``handler`` added to its callbacks (a list or, inside a graph, a
    callback manager), inherited by every child run.

    Example:
        >>> with_callback({}, UsageLedger())["callbacks"]  # doctest: +ELLIPSIS
        [<langgraph_collab.tracing.UsageLedger object at ...>]
    """
    config = dict(config or {})
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        callbacks = callbacks.copy()
        callbacks.add_handler(handler, inherit=True)
    else:
        callbacks = [*(callbacks or []), handler]
    config["callbacks"] = callbacks
    return config  # type: ignore[return-value]


class CallGate(AsyncCallbackHandler):
    """A global cap on chat-model calls in flight, for async runs: every call waits for a
    permit in ``on_chat_model_start`` (awaited before the model runs) and gives it back when
    it ends or fails. Also counts calls, tokens and cache hits for progress displays (as
    :class:`UsageLedger` does: a cache hit is no call and spends no tokens).

    Example:
        >>> gate = CallGate(8)
        >>> # await graph.ainvoke(inputs, {"callbacks": [gate]})
    """

    run_inline = True
    ignore_chain = ignore_retriever = ignore_agent = ignore_retry = True

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the call cap must be >= 1, got {limit}")
        self.limit = limit
        self._semaphore = asyncio.Semaphore(limit)
        self._held: set[UUID] = set()
        self.calls = self.tokens = self.cache_hits = self.in_flight = self.peak = 0

    async def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        await self._semaphore.acquire()
        self._held.add(run_id)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def _release(self, run_id: UUID, *, hit: bool = False) -> None:
        if run_id in self._held:
            self._held.discard(run_id)
            self.in_flight -= 1
            self.calls += not hit
            self.cache_hits += hit
            self._semaphore.release()

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        hit = is_cache_hit(response)
        self.tokens += 0 if hit else sum(usage_of(response))
        self._release(run_id, hit=hit)

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._release(run_id)


PROBE_TIMEOUT_S = 2.0
"""How long the tracing guard waits for LangSmith's ``/info`` before tracing nothing."""
FLUSH_TIMEOUT_S = 10.0
"""How long an entry point waits at its end for traces still being uploaded."""


def _seconds(variable: str, default: float) -> float:
    value = os.environ.get(variable)
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError as error:
        raise ValueError(f"{variable}={value!r}: expected a number of seconds") from error


def langsmith_reachable(timeout: float | None = None) -> bool:
    """Whether the configured LangSmith endpoint answers ``/info`` within ``timeout``
    seconds (default ``LANGGRAPH_COLLAB_LANGSMITH_PROBE_S``, else 2). Reads the URL from
    the environment as the SDK does, without building a client (whose upload threads
    would keep the process alive)."""
    if timeout is None:
        timeout = _seconds("LANGGRAPH_COLLAB_LANGSMITH_PROBE_S", PROBE_TIMEOUT_S)
    try:
        with urllib.request.urlopen(f"{get_api_url(None)}/info", timeout=timeout) as response:
            return response.status < 500
    except (OSError, ValueError, http.client.HTTPException):  # refused, timed out, bad URL
        return False


def flush_traces(timeout: float | None = None) -> bool:
    """Wait at most ``timeout`` seconds (default ``LANGGRAPH_COLLAB_FLUSH_S``, else 10) for
    traces still being uploaded; warn and return False when some are left behind."""
    timeout = _seconds("LANGGRAPH_COLLAB_FLUSH_S", FLUSH_TIMEOUT_S) if timeout is None else timeout
    client = run_trees._CLIENT
    queue = getattr(client, "tracing_queue", None)
    if client is None:
        return True
    client.flush(timeout=timeout)
    left = getattr(queue, "unfinished_tasks", 0)
    if left:
        warnings.warn(
            f"LangSmith did not take {left} trace batches within {timeout:g} s; they are "
            "dropped (set LANGGRAPH_COLLAB_FLUSH_S to wait longer)",
            stacklevel=2,
        )
    return not left


@contextlib.contextmanager
def tracing_guard() -> Iterator[None]:
    """The context every public entry point runs in. With tracing on: when LangSmith does
    not answer, warn once and trace nothing in it (never one failed upload per call, never
    a process that cannot exit); when it does, wait a bounded time for the last traces at
    the end. The SDK's client and its upload threads stay the process's own (set
    ``LANGSMITH_USE_DAEMON=true`` for daemon threads, which never hold the exit up for
    an endpoint that hangs mid-upload). With tracing off: nothing.

    Example:
        >>> with tracing_guard():
        ...     pass
    """
    if not tracing_is_enabled() or _GUARDED.get():
        yield
        return
    token = _GUARDED.set(True)
    try:
        with _guarded():
            yield
    finally:
        _GUARDED.reset(token)


_GUARDED: contextvars.ContextVar[bool] = contextvars.ContextVar("collab_guarded", default=False)


@contextlib.contextmanager
def _guarded() -> Iterator[None]:
    if not langsmith_reachable():
        warnings.warn(
            f"LangSmith at {get_api_url(None)} does not answer: tracing is off for this run",
            stacklevel=4,
        )
        with tracing_context(enabled=False):
            yield
        return
    try:
        yield
    finally:
        flush_traces()


class FeedbackSender:
    """Attaches each candidate's MR and components as LangSmith feedback to the run that
    generated it (``candidate.run_id``), when tracing is on. After the first failure it
    warns once and sends nothing more: a down endpoint never stops a collection.

    Example:
        >>> FeedbackSender().send([])  # tracing off or nothing to send
        0
    """

    def __init__(self, client: Any = None) -> None:
        self.client = client
        self.disabled = False
        self._projects: dict[str, Any] = {}

    def _project_id(self, name: str) -> Any:
        if name not in self._projects:
            self._projects[name] = self.client.create_project(name, upsert=True).id
        return self._projects[name]

    def send(self, candidates: Sequence[Any], *, trace: Any = None) -> int:
        """Send feedback for ``candidates``, runs of the traced run ``trace`` (whose trace id
        lets the SDK batch feedback in the background, and whose project it is filed
        under); returns how many candidates got it."""
        if self.disabled or not candidates or not tracing_is_enabled():
            return 0
        sent = 0
        try:
            self.client = self.client or run_trees.get_cached_client()
            where = {}
            if trace is not None:
                where["trace_id"] = trace.trace_id
                where["session_id"] = self._project_id(trace.session_name)
            for candidate in candidates:
                if candidate.run_id is None or candidate.mr is None:
                    continue
                scores = {"multiturn_aware_reward": candidate.mr}
                scores |= {f"mr.{name}": value for name, value in candidate.components.items()}
                for key, score in scores.items():
                    self.client.create_feedback(candidate.run_id, key=key, score=score, **where)
                sent += 1
        except Exception as error:
            self.disabled = True
            warnings.warn(
                f"LangSmith feedback not sent ({error}); going on without it", stacklevel=2
            )
        return sent
