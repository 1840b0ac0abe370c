"""The checks on option values that every entry point shares: the training CLI
(``train/checks.py``) and the Python API (``collect``, the reward functions and graph,
``evaluate``, ``rescore``, the node, the middleware) call the same functions, so a value
the CLI refuses is refused by the API with the same words, before any model call.

Each check returns one problem line (``name=value: what to do``) or None;
:func:`raise_problems` raises them together as one :class:`OptionError` (a ``ValueError``
and a ``TypeError``, whichever a caller catches).

Example:
    >>> whole("samples", "3", minimum=1)
    "samples='3': must be a whole number (int), not str"
    >>> raise_problems([whole("samples", 3, minimum=1), share("proactive_share", 2)])
    Traceback (most recent call last):
    ...
    langgraph_collab.options_check.OptionError: proactive_share=2: must be in [0, 1]
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

Problem = str | None


class OptionError(ValueError, TypeError):
    """Options with a wrong type or value; the message names each one and what to do.

    Both a ``ValueError`` and a ``TypeError``, so code that catches either keeps working.

    Example:
        >>> from langgraph_collab.reward.options import RewardOptions
        >>> try:
        ...     RewardOptions(samples=0)
        ... except OptionError as error:
        ...     print(error)
        samples=0: must be at least 1
    """


def did_you_mean(value: str, allowed: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``allowed``, or nothing.

    Example:
        >>> did_you_mean("jugde", ["judge", "assistant"])
        " (did you mean 'judge'?)"
    """
    close = difflib.get_close_matches(value, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def raise_problems(problems: Iterable[Problem]) -> None:
    """Raise every problem in ``problems`` (Nones skipped) as one :class:`OptionError`."""
    found = [problem for problem in problems if problem]
    if found:
        raise OptionError("; ".join(found))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def whole(name: str, value: Any, *, minimum: int, optional: bool = False, why: str = "") -> Problem:
    """``value`` is an int (not a bool) ``>= minimum`` (or None when ``optional``).

    Example:
        >>> whole("max_concurrent_tasks", 0, minimum=1)
        'max_concurrent_tasks=0: must be at least 1'
    """
    if value is None and optional:
        return None
    if not _is_int(value):
        kind = "a whole number (int)" + (" or None" if optional else "")
        return f"{name}={value!r}: must be {kind}, not {type(value).__name__}"
    if value < minimum:
        return f"{name}={value!r}: must be at least {minimum}{why}" + (
            ", or None" if optional else ""
        )
    return None


def number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    positive: bool = False,
    optional: bool = False,
    why: str = "",
) -> Problem:
    """``value`` is a finite int or float, ``>= minimum`` / ``> 0`` as asked (or None when
    ``optional``).

    Example:
        >>> number("token_lambda", -0.1, minimum=0.0)
        'token_lambda=-0.1: must be >= 0.0'
    """
    if value is None and optional:
        return None
    if not _is_number(value):
        kind = "a number" + (" or None" if optional else "")
        return f"{name}={value!r}: must be {kind}, not {type(value).__name__}"
    if not math.isfinite(value):
        return f"{name}={value!r}: must be a finite number"
    if positive and value <= 0:
        return f"{name}={value!r}: must be positive{why}"
    if minimum is not None and value < minimum:
        return f"{name}={value!r}: must be >= {minimum}{why}"
    return None


def share(name: str, value: Any) -> Problem:
    """A number in [0, 1]."""
    problem = number(name, value)
    if problem or 0 <= value <= 1:
        return problem
    return f"{name}={value!r}: must be in [0, 1]"


def flag(name: str, value: Any) -> Problem:
    """True or False."""
    if isinstance(value, bool):
        return None
    return f"{name}={value!r}: must be True or False, not {type(value).__name__}"


def instance(name: str, value: Any, kinds: tuple[type, ...], what: str) -> Problem:
    """``value`` is one of ``kinds`` (``what`` says which, for the message)."""
    if isinstance(value, kinds):
        return None
    return f"{name}={value!r:.80}: must be {what}, not {type(value).__name__}"


def function(name: str, value: Any, *, optional: bool = True) -> Problem:
    """A callable (or None when ``optional``)."""
    if (value is None and optional) or callable(value):
        return None
    return f"{name}={value!r:.80}: must be a function{' or None' if optional else ''}"


def names(name: str, keys: Iterable[Any], allowed: Sequence[str], what: str) -> Problem:
    """Every key is one of ``allowed``; the first stranger gets a did-you-mean.

    Example:
        >>> names("prices", ["user"], ["simulated_user", "assistant", "judge"], "role")
        "prices: unknown roles ['user']; use one of simulated_user, assistant, judge (did you mean 'simulated_user'?)"
    """  # noqa: E501
    unknown = [key for key in keys if key not in allowed]
    if not unknown:
        return None
    hint = did_you_mean(str(unknown[0]), allowed)
    if not hint:  # a prefix or a part ('user' of 'simulated_user') is a likely intent too
        near = [a for a in allowed if str(unknown[0]).lower() in a or a in str(unknown[0])]
        hint = f" (did you mean {near[0]!r}?)" if near else ""
    return f"{name}: unknown {what}s {unknown}; use one of {', '.join(allowed)}{hint}"


def weight_values(value: Any, allowed: Sequence[str] | None = None) -> Problem:
    """A mapping of component names (one of ``allowed`` when given) to finite numbers
    ``>= 0`` (a negative weight would reward the opposite of the metric)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        return f"weights={value!r:.80}: must be a mapping of component name -> weight"
    for key, weight in value.items():
        problem = number(f"weights[{key!r}]", weight, minimum=0.0)
        if problem:
            return problem + " (a negative weight would reward the opposite)"
    if allowed is not None:
        return names("weights", value, allowed, "component")
    return None


def price_table(value: Any, roles: Sequence[str]) -> Problem:
    """USD per million (input, output) tokens per role name, each a pair of numbers >= 0;
    keys must be the role names usage reports (``roles``), or the cost would be missing."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        return f"prices={value!r:.80}: must map role name -> (input, output) USD per 1M tokens"
    for key, pair in value.items():
        pair_ok = isinstance(pair, Sequence) and not isinstance(pair, str) and len(pair) == 2
        if not pair_ok or any(number("", p, minimum=0.0) for p in pair):
            return (
                f"prices[{key!r}]={pair!r}: must be (input, output) USD per million tokens, "
                "two numbers >= 0"
            )
    return names("prices", value, roles, "role")


def metric_names(value: Any, known: Sequence[str]) -> Problem:
    """Metric names (strings among ``value``, a sequence or a name -> metric mapping) are
    built-in ones; callables are taken as they are."""
    if value is None:
        return None
    if isinstance(value, str):
        return f"metrics={value!r}: give a list of metric names, e.g. [{value!r}]"
    items = value.values() if isinstance(value, Mapping) else value
    if not isinstance(items, Iterable):
        return f"metrics={value!r:.80}: must be a list of metric names or functions"
    items = list(items)
    wrong = [m for m in items if not isinstance(m, str) and not callable(m)]
    if wrong:
        return f"metrics: {wrong[0]!r:.80} is neither a metric name nor a function"
    return names("metrics", [m for m in items if isinstance(m, str)], known, "metric")


def check_each(
    checks: Mapping[str, Callable[[str, Any], Problem]], values: Mapping[str, Any]
) -> list[Problem]:
    """Run ``checks[name](name, values[name])`` for every name present in ``values``."""
    return [check(name, values[name]) for name, check in checks.items() if name in values]


__all__ = [
    "OptionError",
    "check_each",
    "did_you_mean",
    "flag",
    "function",
    "instance",
    "metric_names",
    "names",
    "number",
    "price_table",
    "raise_problems",
    "share",
    "weight_values",
    "whole",
]
