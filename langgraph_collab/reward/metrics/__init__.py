"""The metric registry: named callables that score one forward-sampled conversation.

A metric takes a :class:`MetricInput` (the task, the whole conversation, the window that
starts at the candidate reply, and the judge's :class:`~langgraph_collab.Judgement` with the
extracted artifact) and returns a float. Built-in metrics are looked up by name in
:data:`METRICS`; your own are plain callables passed next to them, no registration needed.
A metric that cannot score raises :class:`MetricError`, and the sample is masked.

Built in: ``accuracy`` (math, symbolic, judge fallback), ``judged_accuracy``, ``pass_rate``
(code, sandboxed), ``bleu`` (documents), ``clarification`` and ``asked`` (ambiguity),
``interactivity`` (judge) and ``tokens`` (the window's length).

Example:
    >>> from langgraph_collab.reward.metrics import resolve_metrics
    >>> sorted(resolve_metrics(["interactivity", lambda sample: 1.0]))
    ['<lambda>', 'interactivity']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from langgraph_collab.reward.metrics.accuracy import judged_accuracy, math_accuracy
from langgraph_collab.reward.metrics.base import Metric, MetricError, MetricInput
from langgraph_collab.reward.metrics.bleu import bleu
from langgraph_collab.reward.metrics.clarification import asked, clarification
from langgraph_collab.reward.metrics.interactivity import interactivity
from langgraph_collab.reward.metrics.pass_rate import pass_rate
from langgraph_collab.reward.metrics.tokens import TokenCounter, count_tokens


def tokens(sample: MetricInput, counter: TokenCounter | None = None) -> float:
    """Tokens in the window (candidate + future turns), ``cl100k_base`` by default."""
    return float(count_tokens(sample.window, counter=counter))


METRICS: Mapping[str, Metric] = MappingProxyType(
    {
        "accuracy": math_accuracy,
        "judged_accuracy": judged_accuracy,
        "pass_rate": pass_rate,
        "bleu": bleu,
        "clarification": clarification,
        "asked": asked,
        "interactivity": interactivity,
        "tokens": tokens,
    }
)
"""Built-in metrics by name."""


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


__all__ = ["METRICS", "Metric", "MetricError", "MetricInput", "resolve_metrics"]
