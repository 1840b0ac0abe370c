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

import threading
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult
from pydantic import BaseModel


class RoleUsage(BaseModel):
    """Model calls and tokens spent by one role."""

    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: RoleUsage) -> RoleUsage:
        fields = type(self).model_fields
        return RoleUsage(**{name: getattr(self, name) + getattr(other, name) for name in fields})


def role_of(tags: list[str] | None) -> str:
    """The innermost ``role:`` tag of a run, or ``"other"``."""
    roles = [tag.removeprefix("role:") for tag in tags or [] if tag.startswith("role:")]
    return roles[-1] if roles else "other"


def _usage(response: LLMResult) -> tuple[int, int]:
    for generations in response.generations:
        for generation in generations:
            usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
            if usage:
                return usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    token_usage = (response.llm_output or {}).get("token_usage") or {}
    return token_usage.get("prompt_tokens", 0), token_usage.get("completion_tokens", 0)


class UsageLedger(BaseCallbackHandler):
    """Counts chat-model calls, errors and tokens per role (and per candidate).

    Thread-safe and run inline, so it is exact under async fan-out.
    """

    run_inline = True

    def __init__(self) -> None:
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
        key = (role_of(tags), (metadata or {}).get("candidate_index"))
        with self._lock:
            self._open[run_id] = key

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        input_tokens, output_tokens = _usage(response)
        usage = RoleUsage(calls=1, input_tokens=input_tokens, output_tokens=output_tokens)
        self._close(run_id, usage)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id, RoleUsage(calls=1, errors=1))

    def _close(self, run_id: UUID, usage: RoleUsage) -> None:
        with self._lock:
            key = self._open.pop(run_id, None)
            if key is not None:
                self._usage[key] = self._usage.get(key, RoleUsage()) + usage

    def by_role(self, candidate_index: int | None = None) -> dict[str, RoleUsage]:
        """Usage per role, over all calls or those made for one candidate."""
        totals: dict[str, RoleUsage] = {}
        with self._lock:
            for (role, candidate), usage in self._usage.items():
                if candidate_index is None or candidate == candidate_index:
                    totals[role] = totals.get(role, RoleUsage()) + usage
        return totals
