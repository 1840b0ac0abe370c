"""Comparing a final math answer with its reference, the way MATH graders do.

Both sides go through the same normaliser (``\\boxed{}``, ``$``, ``\\text{}``, spacing,
``\\left``/``\\right``, ``\\dfrac``, degrees, percent, trailing units, ``x =``, thousands
separators), so an answer written like its reference always matches. Then: times and
ratios compare part by part, tuples / intervals / sets / matrices element by element (an
interval's brackets must agree, a set's order need not), anything else symbolically with
math-verify on both sides parsed alike. :func:`compare` returns None when that is not
decisive (nothing parses, or the two sides are of different kinds): the judge decides then.

Example:
    >>> compare("$(1, 2)$", "\\\\boxed{(1,2)}"), compare("9:00", "09:00"), compare("3:2", "2:3")
    (True, True, False)
"""

from __future__ import annotations

import contextvars
import functools
import logging
import re
from collections.abc import Callable
from typing import Any

_UNTIMED = contextvars.ContextVar("langgraph_collab_untimed_math_verify", default=False)


class _OurUntimedCalls(logging.Filter):
    """Drops math-verify's "Timeout is disabled" warning when our own untimed call causes
    it (we bound the work ourselves: MAX_SYMBOLIC_CHARS); other callers' records pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_UNTIMED.get() and record.getMessage().startswith("Timeout is disabled"))


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_OurUntimedCalls())


def _untimed(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        token = _UNTIMED.set(True)
        try:
            return function(*args, **kwargs)
        finally:
            _UNTIMED.reset(token)

    return run


MAX_SYMBOLIC_CHARS = 200
"""Longer answers are compared as text only: sympy's simplification of a long expression
can run for minutes, and metrics run off the main thread, where math-verify's timeouts
cannot fire."""
# What sympy could choke on: nested powers, a power with a 7+ digit exponent, sums,
# products, integrals, limits, factorials, binomials, numbers of 40+ digits. An answer
# with one of them is compared as text only (undecided -> the judge's verdict).
_TOWER = re.compile(
    r"\^\s*\{[^}]*\^|\^\s*\d+\s*\^|\*\*[^*]{0,12}\*\*|\^\s*\{?\s*\d{7,}"
    r"|\\(?:sum|prod|int|oint|lim|binom|dbinom|tbinom)(?![a-zA-Z])"
    r"|\b(?:sum|product|integrate|limit)\s*\("
    r"|(?<![=<>!])!(?!=)|\d{40,}"
)
_DROP = [r"\\left", r"\\right", r"\\!", r"\\,", r"\\;", r"\\:", r"(?<!\\)\\ ", r"\\displaystyle"]
_DROP += [r"\^\s*\{?\\circ\}?", "°", r"\\%", "%", r"\\\$", r"^\\\(|\\\)$", r"^\\\[|\\\]$"]
_UNIT = re.compile(r"^([-+]?[\d.,/{}\\a-z]*\d[\d.}]*)\s*(?:\\text\{\s*)?[a-zA-Z][a-zA-Z .]*\}?$")
_OPEN, _CLOSE = "([{", ")]}"


def _boxed(text: str) -> str:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox``), else ``text``."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return text
    opened, depth = text.index("{", start), 0
    for i in range(opened, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[opened + 1 : i]
    return text


def normalise(text: str) -> str:
    """One canonical spelling of an answer.

    Example:
        >>> normalise("$\\\\boxed{68 \\\\text{ dollars}}$."), normalise("x = \\\\dfrac{1}{2}")
        ('68', '\\\\frac{1}{2}')
    """
    text = _boxed(text.strip()).strip().strip("$").strip()
    text = re.sub(r"\\[dt]frac", r"\\frac", text)
    text = re.sub(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}", r"\1", text)
    for pattern in _DROP:
        text = re.sub(pattern, "", text)
    text = re.sub(r"\s+", " ", text).strip().rstrip(".").strip()
    text = re.sub(r"^[a-zA-Z]\s*=\s*(?=\S)", "", text)  # x = 5 -> 5
    if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?", text):
        text = text.replace(",", "")
    if (unit := _UNIT.match(text)) and not text.startswith("\\"):
        text = unit.group(1)
    return text.replace(" ", "")


def _split(text: str, sep: str) -> list[str]:
    """``text`` split on ``sep`` outside brackets."""
    parts, depth, last = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch in _OPEN) - (ch in _CLOSE)
        if depth == 0 and text.startswith(sep, i):
            parts.append(text[last:i])
            last = i + len(sep)
    return [*parts, text[last:]]


def _container(text: str) -> tuple[str, list[str]] | None:
    """(bracket kind, elements) of a tuple, interval, set or matrix; None for a scalar."""
    matrix = re.fullmatch(r"\\begin\{[pbv]?matrix\}(.*)\\end\{[pbv]?matrix\}", text)
    if matrix:
        rows = [r for r in _split(matrix.group(1), "\\\\") if r]
        return "matrix", [c for r in rows for c in [*_split(r, "&"), ";"]]
    if text.startswith("\\{") and text.endswith("\\}"):
        return "set", sorted(_split(text[2:-2], ","))
    if len(text) > 1 and text[0] in "([" and text[-1] in ")]" and len(_split(text, ",")) == 1:
        inner = _split(text[1:-1], ",")
        if len(inner) > 1:
            return text[0] + text[-1], inner
    if len(parts := _split(text, ",")) > 1:
        return "list", parts
    return None


@_untimed
def _symbolic(reference: str, answer: str, raw: str) -> bool | None:
    """math-verify on both sides parsed alike (an answer in words: its final expression);
    None unless both parse to comparable kinds."""
    from math_verify import parse, verify

    gold = parse(f"${reference}$", parsing_timeout=None)
    wordy = re.search(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}", answer)
    target = parse(raw if wordy else f"${answer}$", parsing_timeout=None)
    if not gold or not target:
        return None
    if verify(gold, target, timeout_seconds=None):
        return True
    kinds = {type(gold[0]).__module__.split(".")[0], type(target[0]).__module__.split(".")[0]}
    return False if kinds == {"sympy"} else None


def compare(reference: str, answer: str) -> bool | None:
    """Whether ``answer`` equals ``reference``; None when that is not decisive."""
    ref, ans = normalise(reference), normalise(answer)
    if ref.lower() == ans.lower():
        return True
    if not ans or len(ans) > MAX_SYMBOLIC_CHARS or _TOWER.search(ans):
        return None
    times = [re.fullmatch(r"(\d{1,2}):(\d{2})", s) for s in (ref, ans)]
    if all(times):
        return [int(g) for g in times[0].groups()] == [int(g) for g in times[1].groups()]
    ratios = [_split(s, ":") for s in (ref, ans)]
    if len(ratios[0]) == 2 or len(ratios[1]) == 2:
        if len(ratios[0]) != len(ratios[1]):
            return None
        return _all(ratios[0], ratios[1])
    shapes = [_container(s) for s in (ref, ans)]
    if shapes[0] or shapes[1]:
        if not shapes[0] or not shapes[1]:
            return None if "list" in (shapes[0] or shapes[1])[0] else _symbolic(ref, ans, answer)
        (kind_r, items_r), (kind_a, items_a) = shapes[0], shapes[1]
        if len(items_r) != len(items_a) or (kind_r != kind_a and "list" not in (kind_r, kind_a)):
            return False if {kind_r, kind_a} <= {"()", "[]", "(]", "[)"} else None
        return _all(items_r, items_a)
    return _symbolic(ref, ans, answer)


def _all(refs: list[str], answers: list[str]) -> bool | None:
    """Element-wise :func:`compare`: False on any mismatch, None if any is undecided."""
    results = [
        compare(r, a) if r != ";" or a != ";" else True for r, a in zip(refs, answers, strict=True)
    ]
    return False if False in results else None if None in results else True
