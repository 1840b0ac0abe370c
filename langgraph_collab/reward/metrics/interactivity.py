"""Interactivity: the judge's grade of how well the assistant collaborated.

Example:
    >>> from langgraph_collab import Task
    >>> from langgraph_collab.roles.judge import Judgement
    >>> from langgraph_collab.reward.metrics.base import MetricInput
    >>> sample = MetricInput(Task(request="x"), [], [], Judgement(grade="B"))
    >>> interactivity(sample)
    0.5
"""

from __future__ import annotations

from langgraph_collab.reward.metrics.base import MetricError, MetricInput


def interactivity(sample: MetricInput) -> float:
    """The judge's interactivity score on the reference scale (A=1, B=0.5, C=0)."""
    if sample.judgement.interactivity is None:
        raise MetricError("the judge gave no interactivity grade")
    return sample.judgement.interactivity
