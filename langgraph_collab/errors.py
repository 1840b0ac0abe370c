"""What can go wrong in a role or a metric, what is retried, and what the library raises.

Two kinds of failure, and one rule for each:

- **transient**: the same call may well succeed again: a dropped connection, a timeout (the
  builtin ones, httpx's, and the OpenAI and Anthropic SDKs'), HTTP 408/409/425/429/5xx, a
  reply the role could not use (:class:`MalformedReply`). Retried with exponential backoff
  and jitter, honouring ``Retry-After``; one that outlives its retries becomes a
  :class:`TransientFailure`, and only that (or a :class:`MetricError`) masks a sample.
- **permanent**: retrying cannot help: a wrong API key (401/403), a bad request (400/404/422),
  a bug in a callable or a metric (``TypeError``...). Raised at once as a
  :class:`PermanentError` that names the role and the model.

When every forward sample of a call failed, or the same failure keeps repeating, the call
raises a :class:`ScoringError` listing the distinct errors instead of returning ``mean=None``.

Example:
    >>> is_transient(TimeoutError("read timed out")), is_transient(TypeError("bad arg"))
    (True, False)
    >>> str(PermanentError("judge", KeyError("grade"), model="gpt-4o-mini"))
    "judge (gpt-4o-mini): KeyError: 'grade' [permanent: not retried]"
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import importlib
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from langchain_core.exceptions import OutputParserException

TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
"""HTTP statuses worth retrying besides every 5xx."""


class MalformedReply(ValueError):
    """A model answered with something a role cannot use (empty, off-role, unparseable,
    out of its scale): transient, the next sample may be fine."""


class PermanentError(RuntimeError):
    """A failure that retrying cannot fix, raised at once: ``where`` (a role or a metric),
    the ``model`` when known, and the original error as ``__cause__``.

    Example:
        >>> str(PermanentError("judge", ValueError("bad key"), model="gpt-4o-mini"))
        'judge (gpt-4o-mini): ValueError: bad key [permanent: not retried]'
    """

    def __init__(self, where: str, error: BaseException, *, model: str | None = None) -> None:
        self.where, self.model, self.error = where, model, error
        named = f"{where} ({model})" if model else where
        super().__init__(f"{named}: {type(error).__name__}: {error} [permanent: not retried]")


class TransientFailure(RuntimeError):
    """A transient error that outlived its retries: masks the sample it happened in.

    Example:
        >>> str(TransientFailure("simulated_user", TimeoutError("slow"), attempts=3))
        'simulated_user: TimeoutError: slow (after 3 attempts)'
    """

    def __init__(
        self, where: str, error: BaseException, *, attempts: int, model: str | None = None
    ) -> None:
        self.where, self.model, self.error, self.attempts = where, model, error, attempts
        named = f"{where} ({model})" if model else where
        super().__init__(f"{named}: {type(error).__name__}: {error} (after {attempts} attempts)")


class BudgetExhausted(RuntimeError):
    """A lookahead budget (calls, tokens, seconds) ran out: not an error of any model,
    passed through every role unchanged; the sample it cuts is masked, recorded as
    :func:`cut_by_budget`, and never counted as a failure."""


def cut_by_budget(error: BudgetExhausted) -> str:
    """How a sample cut by a budget is recorded."""
    return f"budget: {error}"


def is_budget_cut(error: str | None) -> bool:
    """Whether a recorded sample error is a budget cut (see :func:`cut_by_budget`)."""
    return bool(error) and error.startswith("budget: ")


class ScoringError(RuntimeError):
    """Every sample of a scoring call failed, or the same failure kept repeating: ``errors``
    holds each distinct error with how often it happened.

    Example:
        >>> error = ScoringError("every sample failed", ["judge: timeout", "judge: timeout"])
        >>> error.errors, str(error)
        ({'judge: timeout': 2}, 'every sample failed: judge: timeout (x2)')
    """

    def __init__(self, what: str, errors: Iterable[str]) -> None:
        counts: dict[str, int] = {}
        for error in errors:
            counts[error] = counts.get(error, 0) + 1
        self.errors = counts
        lines = "; ".join(f"{error} (x{n})" for error, n in counts.items())
        super().__init__(f"{what}: {lines}")


def status_of(error: BaseException) -> int | None:
    """The HTTP status an SDK error carries (``status_code`` or ``response.status_code``)."""
    for holder in (error, getattr(error, "response", None)):
        status = getattr(holder, "status_code", None)
        if isinstance(status, int):
            return status
    return None


# (module, class names): the network errors of the HTTP clients and SDKs a role may use;
# a module that is not installed adds none. httpx2 is the HTTP client of recent OpenAI and
# Anthropic SDKs; Anthropic's RetryableError is the one its middleware raises to ask for a
# retry.
_NETWORK_ERRORS = (
    ("httpx", ("TransportError",)),
    ("httpx2", ("TransportError",)),
    ("openai", ("APIConnectionError", "APITimeoutError")),
    ("anthropic", ("APIConnectionError", "APITimeoutError", "RetryableError")),
)


@functools.cache
def _network_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [ConnectionError, TimeoutError, asyncio.TimeoutError]
    for module_name, names in _NETWORK_ERRORS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # never required: only there with the provider that uses it
            continue
        found += [getattr(module, name) for name in names if hasattr(module, name)]
    return tuple(found)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is worth retrying (see the module docstring for the rule)."""
    if isinstance(error, PermanentError | TransientFailure | BudgetExhausted):
        return False  # decided already (an inner role, a budget): never retried
    if isinstance(error, MalformedReply | OutputParserException):
        return True
    status = status_of(error)
    if status is not None:
        return status in TRANSIENT_STATUS or status >= 500
    return isinstance(error, _network_errors())


def retry_after(error: BaseException) -> float | None:
    """Seconds the server asked to wait (``retry-after-ms`` / ``Retry-After``), if any."""
    headers = getattr(getattr(error, "response", None), "headers", None)
    if not headers:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value.strip() else None
        return max(0.0, when.timestamp() - time.time()) if when else None


@dataclass(frozen=True)
class Backoff:
    """How a role waits between attempts: ``base * 2**attempt`` seconds capped at ``cap``,
    half of it fixed and half random (so parallel callers spread out), or what the server
    asked for in ``Retry-After`` (at most ``max_retry_after``).

    Example:
        >>> 0.25 <= Backoff(base=0.5).delay(0, RuntimeError()) <= 0.5
        True
    """

    base: float = 0.5
    cap: float = 20.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, error: BaseException) -> float:
        asked = retry_after(error)
        if asked is not None:
            return min(asked, self.max_retry_after)
        step = min(self.cap, self.base * 2**attempt)
        return step / 2 + random.uniform(0, step / 2)


DEFAULT_BACKOFF = Backoff()


def error_key(error: str) -> str:
    """A failure as a short key, for counting repeats (the first line, capped)."""
    return error.strip().splitlines()[0][:300] if error.strip() else "unknown error"


def check_failures(what: str, errors: list[str | None], *, repeats: int = 3) -> None:
    """Raise :class:`ScoringError` when every item failed, or when one same failure
    happened ``repeats`` times and for at least half the items: a systematic fault, not
    noise. ``errors`` has one entry per item (None where it succeeded).

    Example:
        >>> check_failures("MR", [None, "judge: timeout", None])  # noise: no error
        >>> check_failures("MR", ["user: 503", "user: 503"])
        Traceback (most recent call last):
        ...
        langgraph_collab.errors.ScoringError: MR: every one of 2 samples failed: user: 503 (x2)
    """
    failed = [error_key(e) for e in errors if e is not None]
    if not failed:
        return
    if len(failed) == len(errors):
        raise ScoringError(f"{what}: every one of {len(errors)} samples failed", failed)
    counts: dict[str, int] = {}
    for key in failed:
        counts[key] = counts.get(key, 0) + 1
    worst = max(counts.values())
    if worst >= repeats and 2 * worst >= len(errors):
        raise ScoringError(f"{what}: the same failure in {worst} of {len(errors)} samples", failed)


def describe(where: str, error: Any) -> str:
    """One line for a recorded failure: ``where: Type: message``."""
    if isinstance(error, PermanentError | TransientFailure):
        return str(error)
    return f"{where}: {type(error).__name__}: {error}"
