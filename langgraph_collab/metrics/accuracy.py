"""Accuracy of a final answer: symbolic equivalence with the reference, else the LLM judge.

``1/2``, ``0.5`` and ``\\frac{1}{2}`` agree (math-verify over sympy). Answers that do not
parse as a mathematical expression fall back to the judge's 0/1 verdict when it gave one.
math-verify's own timeouts use ``signal.alarm``, which only works on the main thread, and
metrics run on worker threads: instead, answers are capped in length and power towers are
refused before sympy sees them.

Example:
    >>> from langgraph_collab import Judgement, Task
    >>> from langgraph_collab.metrics.base import MetricInput
    >>> task = Task(kind="math", request="Half of one?", reference="\\\\frac{1}{2}")
    >>> math_accuracy(MetricInput(task, [], [], Judgement(artifact="The answer is 0.5")))
    1.0
"""

from __future__ import annotations

import logging
import re

from langgraph_collab.metrics.base import MetricError, MetricInput

MAX_ANSWER_CHARS = 2000
logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns on every untimed call
# Exponents sympy could choke on: nested powers, or a power with a 7+ digit exponent.
_TOWER = re.compile(r"\^\s*\{[^}]*\^|\^\s*\d+\s*\^|\*\*[^*]{0,12}\*\*|\^\s*\{?\s*\d{7,}")


def judged_accuracy(sample: MetricInput) -> float:
    """The LLM judge's 0/1 verdict on the final answer against the reference."""
    if sample.judgement.accuracy is None:
        raise MetricError(f"the judge gave no accuracy verdict for a {sample.task.kind!r} task")
    return sample.judgement.accuracy


def _parse(text: str) -> list:
    """math-verify's parse; bare LaTeX (a backslash, no ``$``) is read as LaTeX first, so
    ``2\\sqrt{3}`` is not taken for ``2``."""
    from math_verify import parse

    readings = [text, f"${text}$"]
    if "$" not in text and "\\" in text:
        readings.reverse()
    for reading in readings:
        if parsed := parse(reading, parsing_timeout=None):
            return parsed
    return []


def answers_match(reference: str, answer: str) -> bool | None:
    """Whether ``answer`` (free text, LaTeX or an expression) equals ``reference``
    symbolically; None when either does not parse (or is refused as too costly)."""
    from math_verify import verify

    answer = answer.strip()
    if not answer or len(answer) > MAX_ANSWER_CHARS or _TOWER.search(answer):
        return None
    reference = reference if "$" in reference or "\\boxed" in reference else f"${reference}$"
    gold, target = _parse(reference), _parse(answer)
    if not gold or not target:
        return None
    return bool(verify(gold, target, timeout_seconds=None))


def math_accuracy(sample: MetricInput) -> float:
    """1.0 if the extracted answer equals the reference symbolically, else 0.0; the judge's
    verdict when the answer is not a plain expression."""
    if not sample.task.reference:
        raise MetricError(f"task {sample.task.id!r} has no reference answer")
    match = answers_match(sample.task.reference, sample.artifact)
    if match is None:
        return judged_accuracy(sample) if sample.judgement.accuracy is not None else 0.0
    return float(match)
