"""Comparing a final math answer with its reference, the way MATH graders do.

Both sides go through the same normaliser (``\\boxed{}``, ``$``, ``\\text{}``, spacing,
``\\left``/``\\right``, ``\\dfrac``, degrees, percent, a trailing unit from a list of unit
words and symbols, ``x =``, thousands separators), so an answer written like its reference
always matches, and a trailing letter that is not a unit (``2x``, ``4i``, ``3k``) stays part
of the answer. Then: times and ratios compare part by part, tuples / intervals / sets /
matrices element by element (an interval's brackets must agree, a set's order need not),
anything else symbolically with math-verify on both sides parsed alike, in a worker process
with a hard time bound (:data:`SYMBOLIC_SECONDS`; metrics run off the main thread, where
math-verify's own alarms cannot fire). :func:`compare` returns None when that is not
decisive (nothing parses, the two sides are of different kinds, or time ran out): the judge
decides then.

Example:
    >>> compare("$(1, 2)$", "\\\\boxed{(1,2)}"), compare("9:00", "09:00"), compare("3:2", "2:3")
    (True, True, False)
"""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import subprocess
import sys
import threading
from pathlib import Path
from typing import Literal

SYMBOLIC_SECONDS = 5.0
"""The bound on one symbolic comparison: past it the answer is undecided (the judge's
verdict decides), and the worker is killed if it does not stop by itself."""
MAX_SYMBOLIC_CHARS = 200
"""Longer answers are compared as text only."""
# Cheap screens for what sympy would spend the whole bound on: nested powers, a power with a
# 7+ digit exponent, sums, products, integrals, limits, binomials, numbers of 40+ digits.
_TOWER = re.compile(
    r"\^\s*\{[^}]*\^|\^\s*\d+\s*\^|\*\*[^*]{0,12}\*\*|\^\s*\{?\s*\d{7,}"
    r"|\\(?:sum|prod|int|oint|lim|binom|dbinom|tbinom)(?![a-zA-Z])"
    r"|\b(?:sum|product|integrate|limit)\s*\("
    r"|\d{40,}"
)
_DROP = [r"\\left", r"\\right", r"\\!", r"\\,", r"\\;", r"\\:", r"(?<!\\)\\ ", r"\\displaystyle"]
_DROP += [r"\^\s*\{?\\circ\}?", "°", r"\\%", "%", r"\\\$", r"^\\\(|\\\)$", r"^\\\[|\\\]$"]
# Units: words and symbols only, so "2x", "4i" or "3k" keep their letter. One-letter
# symbols need a space before them ("5 m", never "5m").
_UNIT_WORDS = (
    r"dollars?|cents?|euros?|pounds?|yen|usd|eur|units?|"
    r"(?:square |sq\.? |cubic )?(?:centimet(?:er|re)s?|millimet(?:er|re)s?|kilomet(?:er|re)s?|"
    r"met(?:er|re)s?|inch(?:es)?|feet|foot|ft|yards?|yd|miles?|mi|cm|mm|km|units?)"
    r"(?:\^\{?[23]\}?|[²³])?|"
    r"grams?|kilograms?|kg|mg|lbs?|ounces?|oz|tons?|lit(?:er|re)s?|ml|gallons?|"
    r"seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|"
    r"degrees?|deg|radians?|rad|mph|km/h|kph|m/s|percent"
)
_UNIT = re.compile(
    rf"(?<=[\d}}])(?:\s*(?:{_UNIT_WORDS})|\s+(?:m|s|g|h|l|in)(?:\^\{{?[23]\}}?|[²³])?)\.?$",
    re.IGNORECASE,
)
_OPEN, _CLOSE = "([{", ")]}"
Verdict = Literal["equal", "differ", "undecided", "timeout"]


class _Worker:
    """One math-verify process for this process's comparisons, one at a time, each with a
    hard time bound: its own alarm inside, a kill from here when that cannot fire."""

    GRACE = 2.0  # seconds past the bound before the worker is killed
    START = 120.0  # seconds to import math-verify

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._owner = os.getpid()
        atexit.register(self.close)

    def close(self) -> None:
        """End this process's worker, if one is running."""
        with self._lock:
            if self._process is not None and self._owner == os.getpid():
                self._stop(self._process)

    def _started(self) -> subprocess.Popen:
        if self._owner != os.getpid():  # a forked copy never shares its parent's worker
            self._process, self._owner = None, os.getpid()
        if self._process is None or self._process.poll() is not None:
            script = Path(__file__).with_name("_symbolic_child.py")
            process = subprocess.Popen(
                [sys.executable, "-I", str(script)], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
            )  # fmt: skip
            if self._reply(process, self.START) != "ready":
                self._stop(process)
                raise RuntimeError("the math-verify worker did not start: is it installed?")
            self._process = process
        return self._process

    @staticmethod
    def _reply(process: subprocess.Popen, seconds: float) -> str | None:
        ready, _, _ = select.select([process.stdout], [], [], seconds)
        return process.stdout.readline().strip() if ready else None

    def _stop(self, process: subprocess.Popen) -> None:
        process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            stream.close()
        self._process = None

    def verdict(self, reference: str, answer: str, raw: str, seconds: float) -> Verdict:
        request = {"reference": reference, "answer": answer, "raw": raw, "seconds": seconds}
        with self._lock:
            process = self._started()
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            line = self._reply(process, seconds + self.GRACE)
            if not line:  # stuck past its own alarm, or gone: killed, restarted next time
                self._stop(process)
                return "timeout" if line is None else "undecided"
        verdict = json.loads(line)
        return verdict if verdict in ("equal", "differ", "timeout") else "undecided"


_WORKER = _Worker()


def symbolic_verdict(
    reference: str, answer: str, raw: str | None = None, *, seconds: float | None = None
) -> Verdict:
    """math-verify's verdict on two normalised answers (``raw``: the answer as written, for
    one in words), within ``seconds`` (default :data:`SYMBOLIC_SECONDS`): ``timeout`` when
    it ran past them.

    Example:
        >>> symbolic_verdict("\\\\frac{1}{2}", "0.5"), symbolic_verdict("2", "2x")
        ('equal', 'differ')
    """
    bound = SYMBOLIC_SECONDS if seconds is None else seconds
    return _WORKER.verdict(reference, answer, answer if raw is None else raw, bound)


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


_STATED = re.compile(r"\b(?:final answer|answer)\s*(?:is|:|=)\s*(.+?)\s*[.!]?$", re.IGNORECASE)
_CONCLUDES = re.compile(
    r"(?:\bis|\bare|\bequals?|=|\bcomes to|\bworks out to)\s+(?:about\s+)?"
    r"(\$[^$]+\$|\\\(.+?\\\)|[-+]?\\?\$?\d[\d,]*(?:\.\d+)?(?:/\d+)?(?:\s*\\?%)?)\s*[.!]?$"
)


def final_answer(text: str) -> str | None:
    """The final answer a reply states, or None: its last ``\\boxed{}``; else its last
    "the answer is ..." outside a question; else the number or expression the last
    sentence that is not a question ends on after "is" or "=". Any other number in the
    reply (a step, a count, a detail) is not an answer.

    Example:
        >>> final_answer("So the answer is 3/4. More?"), final_answer("The sum is 7.")
        ('3/4', '7')
        >>> final_answer("Before step 1: is x in radians?") is None
        True
    """
    if "\\boxed{" in text or "\\fbox{" in text:
        return _boxed(text)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]
    stated = [m.group(1) for s in sentences if not s.endswith("?") and (m := _STATED.search(s))]
    if stated:
        return stated[-1]
    concluded = [
        m.group(1) for s in sentences if not s.endswith("?") and (m := _CONCLUDES.search(s))
    ]
    return concluded[-1] if concluded else None


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
    if re.search(r"\d", stripped := _UNIT.sub("", text)):
        text = stripped.strip()
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


def _symbolic(reference: str, answer: str, raw: str) -> bool | None:
    """:func:`symbolic_verdict` as True / False / None (undecided or out of time)."""
    return {"equal": True, "differ": False}.get(symbolic_verdict(reference, answer, raw))


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
