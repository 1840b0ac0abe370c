"""The metric registry: named callables that score one forward-sampled conversation.

A metric takes a :class:`MetricInput` (the task, the whole conversation, the window that
starts at the candidate reply, and the judge's :class:`Judgement` with the extracted
artifact) and returns a float. Built-in metrics are looked up by name in :data:`METRICS`;
your own are plain callables passed next to them, no registration needed.

Example:
    >>> from langgraph_collab.metrics import resolve_metrics
    >>> sorted(resolve_metrics(["interactivity", lambda sample: 1.0]))
    ['<lambda>', 'interactivity']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from langchain_core.messages import BaseMessage

from langgraph_collab.judge import Judgement
from langgraph_collab.metrics.tokens import TokenCounter, count_tokens
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


def interactivity(sample: MetricInput) -> float:
    """The judge's interactivity score on the reference scale (A=1, B=0.5, C=0)."""
    if sample.judgement.interactivity is None:
        raise MetricError("the judge gave no interactivity grade")
    return sample.judgement.interactivity


def judged_accuracy(sample: MetricInput) -> float:
    """The LLM judge's 0/1 verdict on the final answer against the reference."""
    if sample.judgement.accuracy is None:
        raise MetricError(f"the judge gave no accuracy verdict for a {sample.task.kind!r} task")
    return sample.judgement.accuracy


def tokens(sample: MetricInput, counter: TokenCounter | None = None) -> float:
    """Tokens in the window (candidate + future turns), ``cl100k_base`` by default."""
    return float(count_tokens(sample.window, counter=counter))


METRICS: Mapping[str, Metric] = MappingProxyType(
    {"interactivity": interactivity, "accuracy": judged_accuracy, "tokens": tokens}
)
"""Built-in metrics by name."""

DEFAULT_METRICS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"math": ("accuracy", "interactivity")}
)
"""Metrics used for a task kind when none are given (others: interactivity only)."""

TOKEN_LAMBDA: Mapping[str, float] = MappingProxyType({"document": 1e-4, "code": 5e-4, "math": 5e-4})
"""The paper's token-penalty lambda per task kind; other kinds use 5e-4."""


def default_metrics(kind: str) -> tuple[str, ...]:
    """The metric names used for a task kind when none are given."""
    return DEFAULT_METRICS.get(kind, ("interactivity",))


def default_token_lambda(kind: str) -> float:
    """The paper's lambda for a task kind."""
    return TOKEN_LAMBDA.get(kind, 5e-4)


def resolve_metrics(
    metrics: Sequence[str | Metric] | Mapping[str, str | Metric],
) -> dict[str, Metric]:
    """Name -> callable for built-in names, your callables (named by ``__name__``) or a
    mapping of your own names."""
    items = (
        metrics.items()
        if isinstance(metrics, Mapping)
        else ((m if isinstance(m, str) else getattr(m, "__name__", repr(m)), m) for m in metrics)
    )
    resolved: dict[str, Metric] = {}
    for name, metric in items:
        if isinstance(metric, str):
            if metric not in METRICS:
                raise ValueError(f"Unknown metric {metric!r}; built-in: {sorted(METRICS)}")
            metric = METRICS[metric]
        if not callable(metric):
            raise TypeError(f"Metric {name!r} is not callable")
        resolved[name] = metric
    return resolved
