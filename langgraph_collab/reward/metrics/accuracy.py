"""Accuracy of a final answer: equal to the reference as MATH graders compare, else the judge.

The comparison (:mod:`~langgraph_collab.reward.metrics.answers`) is decisive for answers written
like their reference and for tuples, intervals, sets, ratios, times, units, percentages,
matrices, degrees and expressions; when it is not, the judge's 0/1 verdict decides, and a
sample without one is masked (:class:`MetricError`), never scored 0. The symbolic part runs
in a worker process with a hard time bound; past it the answer is undecided.

Example:
    >>> from langgraph_collab import Task
    >>> from langgraph_collab.roles.judge import Judgement
    >>> from langgraph_collab.reward.metrics.base import MetricInput
    >>> task = Task(kind="math", request="Half of one?", reference="\\\\frac{1}{2}")
    >>> math_accuracy(MetricInput(task, [], [], Judgement(artifact="0.5")))
    1.0
"""

from __future__ import annotations

from langgraph_collab.reward.metrics.answers import compare
from langgraph_collab.reward.metrics.base import MetricError, MetricInput


def judged_accuracy(sample: MetricInput) -> float:
    """The LLM judge's 0/1 verdict on the final answer against the reference."""
    if sample.judgement.accuracy is None:
        raise MetricError(f"the judge gave no accuracy verdict for a {sample.task.kind!r} task")
    return sample.judgement.accuracy


def math_accuracy(sample: MetricInput) -> float:
    """1.0 if the extracted answer equals the reference, 0.0 if it decisively differs; the
    judge's verdict otherwise (masked when there is none)."""
    if not sample.task.reference:
        raise MetricError(f"task {sample.task.id!r} has no reference answer")
    match = compare(sample.task.reference, sample.artifact)
    return judged_accuracy(sample) if match is None else float(match)
