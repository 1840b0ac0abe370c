"""What every metric shares: its input, its error, its type.

Example:
    >>> from langgraph_collab.reward.metrics.base import MetricError
    >>> issubclass(MetricError, ValueError)
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage

from langgraph_collab.roles.judge import Judgement
from langgraph_collab.state import Task


@dataclass(frozen=True)
class MetricInput:
    """What a metric sees of one forward sample.

    Attributes:
        task: The task, with its hidden goal and reference.
        conversation: The whole conversation: history, candidate reply and future turns.
        window: The candidate reply and the forward-sampled turns after it.
        judgement: The judge's verdict, with the extracted final ``artifact``.
    """

    task: Task
    conversation: Sequence[BaseMessage]
    window: Sequence[BaseMessage]
    judgement: Judgement

    @property
    def artifact(self) -> str:
        return self.judgement.artifact


Metric = Callable[[MetricInput], float]


class MetricError(ValueError):
    """A metric could not score a sample (the sample is then masked, not zeroed)."""
