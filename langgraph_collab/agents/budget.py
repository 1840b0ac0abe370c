"""The lookahead's per-turn budget: :class:`Budget` (model calls, tokens, seconds) and the
:class:`Gate` that counts a turn's calls and refuses those past it.

Example:
    >>> gate = Gate(Budget(calls=2))
    >>> gate.spent(), gate.seconds_left() is None
    ((0, 0), True)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.outputs import LLMResult

from langgraph_collab.errors import BudgetExhausted, ScoringError, TransientFailure
from langgraph_collab.tracing import UsageLedger, is_cache_hit

GRACE = 2.0
"""Seconds past the lookahead's deadline before an MR call that has not returned is
cancelled whole (it normally returns at the deadline with its finished futures)."""


@dataclass(frozen=True)
class Budget:
    """Per-turn limits on the lookahead (None: no limit): model calls, tokens (input +
    output) and seconds. A call answered by a call cache (:mod:`langgraph_collab.roles.cache`)
    is no model call and spends no tokens: it holds a place under ``calls`` only while in
    flight. Candidates are always sampled, and count; once the budget is
    spent no new model call starts, unfinished futures are masked (a call in flight when
    the seconds run out is abandoned, not interrupted), and the turn answers with the best
    candidate scored so far (the first candidate when none is)."""

    calls: int | None = None
    tokens: int | None = None
    seconds: float | None = None


class Gate(UsageLedger):
    """Counts the turn's model calls and tokens; once ``enforce``, refuses calls past the
    budget by raising :class:`BudgetExhausted` into them. A call counts from its start,
    since a cache hit is known only at its end; a hit then gives its place back."""

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

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        if is_cache_hit(response):
            with self._lock:
                self.started -= 1
        super().on_llm_end(response, **kwargs)

    async def within(self, coroutines: Sequence[Awaitable]) -> list[Any]:
        """Run ``coroutines`` concurrently: the results of those that finished, None for
        those that failed with a transient error or ran past the seconds budget and its
        grace (MR calls stop themselves at the deadline and return their finished
        futures, so the grace is only a safety net); a permanent error raises."""
        left = self.seconds_left()
        jobs = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
        done, pending = await asyncio.wait(jobs, timeout=None if left is None else left + GRACE)
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
