"""Scoring one forward sample (``R*``, eqs. 1-4) and aggregating samples into an MR.

Example:
    >>> from langgraph_collab.reward.scoring import reward_weights
    >>> reward_weights(["accuracy", "interactivity"], {"interactivity": 0.5})
    {'accuracy': 1.0, 'interactivity': 0.5, 'token_penalty': 1.0, 'tokens': 0.0}
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage
from pydantic import BaseModel, Field

from langgraph_collab.errors import PermanentError, ScoringError
from langgraph_collab.reward.fidelity import gave_up
from langgraph_collab.reward.metrics import Metric, MetricError, MetricInput
from langgraph_collab.reward.metrics.tokens import TokenCounter, count_tokens
from langgraph_collab.roles.judge import Judgement
from langgraph_collab.state import FidelityCounts, StopReason, Task
from langgraph_collab.tracing import RoleUsage


class MetricStats(BaseModel):
    """Mean, standard error of the mean (sample std / sqrt(n); 0 when n < 2) and n.

    Example:
        >>> MetricStats.of([1.0, 0.0, 0.5])
        MetricStats(mean=0.5, stderr=0.28867513459481287, n=3)
        >>> MetricStats.of([]).mean is None
        True
    """

    mean: float | None = None
    stderr: float = 0.0
    n: int = 0

    @classmethod
    def of(cls, values: Sequence[float]) -> MetricStats:
        n = len(values)
        if n == 0:
            return cls()
        mean = math.fsum(values) / n
        variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
        return cls(mean=mean, stderr=math.sqrt(variance / n), n=n)


class ForwardSample(BaseModel):
    """One simulated future of one candidate, and its score (``reward`` None if failed).

    Example:
        >>> sample = ForwardSample(candidate_index=0, sample_index=1, error="judge: timeout")
        >>> sample.reward is None, sample.future
        (True, [])
    """

    candidate_index: int
    sample_index: int
    future: list[AnyMessage] = Field(default_factory=list)
    judgement: Judgement | None = None
    components: dict[str, float] = Field(default_factory=dict)
    reward: float | None = None
    error: str | None = None
    stop_reason: StopReason | None = None
    fidelity: FidelityCounts = Field(default_factory=FidelityCounts)


class MultiturnReward(BaseModel):
    """The MR of one candidate: mean and standard error over its valid forward samples,
    the mean of each component, every sample with its conversation, usage per role, the
    simulated user's kept and rejected turns (``fidelity``) and why each future ended.
    ``n_failed`` counts the masked futures, ``n_gave_up`` those among them the fidelity guard
    gave up on (the simulated user kept failing its checks).

    Example:
        >>> from langchain_core.messages import AIMessage
        >>> mr = aggregate(AIMessage("Which dice?"), [
        ...     ForwardSample(candidate_index=0, sample_index=0, reward=0.8,
        ...                   components={"accuracy": 1.0}),
        ...     ForwardSample(candidate_index=0, sample_index=1, error="judge: timeout")])
        >>> mr.mean, mr.n_valid, mr.n_failed, mr.components
        (0.8, 1, 1, {'accuracy': 1.0})
    """

    candidate: AnyMessage
    mean: float | None
    stderr: float
    components: dict[str, float]
    samples: list[ForwardSample]
    n_failed: int
    n_gave_up: int = 0
    usage: dict[str, RoleUsage] = Field(default_factory=dict)
    fidelity: FidelityCounts = Field(default_factory=FidelityCounts)
    stop_reasons: dict[str, int] = Field(default_factory=dict)

    @property
    def n_valid(self) -> int:
        return len(self.samples) - self.n_failed


def reward_weights(metric_names: Sequence[str], weights: Mapping[str, float]) -> dict[str, float]:
    """Every component's weight: 1 for each metric and ``token_penalty``, 0 for the raw
    ``tokens`` count, overridden by ``weights``, which may only name those components.

    Example:
        >>> reward_weights(["bleu"], {"token_penalty": 0.5})
        {'bleu': 1.0, 'token_penalty': 0.5, 'tokens': 0.0}
    """
    full = {name: 1.0 for name in metric_names} | {"token_penalty": 1.0, "tokens": 0.0}
    unknown = set(weights) - set(full)
    if unknown:
        raise ValueError(f"weights name unknown components {sorted(unknown)}; have {sorted(full)}")
    return full | dict(weights)


def weighted_components(
    sample: MetricInput,
    metrics: Mapping[str, Metric],
    *,
    weights: Mapping[str, float],
    token_lambda: float,
    counter: TokenCounter | None = None,
) -> tuple[dict[str, float], float]:
    """The components of ``R*`` for one sample and their weighted sum (eqs. 1-4).

    Components: every metric, ``tokens`` (the window's count) and
    ``token_penalty = -min(token_lambda * tokens, 1)``; weights as :func:`reward_weights`.
    A metric that raises :class:`MetricError` (or returns a non-finite value) raises
    ``MetricError``: the sample is masked. Any other error in a metric is a bug, raised at
    once as :class:`~langgraph_collab.errors.PermanentError` naming the metric.

    Example:
        >>> from langchain_core.messages import AIMessage, HumanMessage
        >>> from langgraph_collab.roles.judge import Judgement
        >>> from langgraph_collab.state import Task
        >>> window = [AIMessage("one two three four")]
        >>> sample = MetricInput(task=Task(request="Say four words."),
        ...                      conversation=[HumanMessage("Hi"), *window], window=window,
        ...                      judgement=Judgement(grade="A"))
        >>> weighted_components(sample, {"done": lambda s: 1.0}, weights={},
        ...                     token_lambda=0.01, counter=lambda text: len(text.split()))
        ({'done': 1.0, 'tokens': 4.0, 'token_penalty': -0.04}, 0.96)
    """
    full = reward_weights(list(metrics), weights)
    components = {name: measure(name, metric, sample) for name, metric in metrics.items()}
    components["tokens"] = float(count_tokens(sample.window, counter=counter))
    components["token_penalty"] = -min(token_lambda * components["tokens"], 1.0)
    return components, sum(full[name] * value for name, value in components.items())


def measure(name: str, metric: Metric, sample: MetricInput) -> float:
    """``metric(sample)`` as a finite float: ``MetricError`` for a value it cannot give,
    :class:`~langgraph_collab.errors.PermanentError` naming the metric for its bugs.

    Example:
        >>> measure("nan", lambda sample: float("nan"), None)
        Traceback (most recent call last):
        ...
        langgraph_collab.reward.metrics.base.MetricError: metric 'nan' returned nan
    """
    try:
        value = float(metric(sample))
    except MetricError:
        raise
    except Exception as error:  # a bug in the metric: never a quiet 0 or a masked sample
        raise PermanentError(f"metric {name!r}", error) from error
    if not math.isfinite(value):
        raise MetricError(f"metric {name!r} returned {value}")
    return value


def score_sample(
    task: Task,
    conversation: Sequence[BaseMessage],
    *,
    start: int,
    candidate_index: int,
    sample_index: int,
    judgement: Judgement | None,
    error: str | None,
    stop_reason: StopReason | None = None,
    fidelity: FidelityCounts | None = None,
    metrics: Mapping[str, Metric],
    weights: Mapping[str, float],
    token_lambda: float,
    counter: TokenCounter | None = None,
) -> ForwardSample:
    """A scored :class:`ForwardSample` for a conversation whose candidate reply sits at
    index ``start``; a failed role or judge (``error``) or a :class:`MetricError` gives
    ``reward=None`` and ``error`` (the sample is masked).

    Example:
        >>> from langchain_core.messages import AIMessage, HumanMessage
        >>> from langgraph_collab.roles.judge import Judgement
        >>> conversation = [HumanMessage("2+2?"), AIMessage("4"), HumanMessage("thanks")]
        >>> sample = score_sample(
        ...     Task(request="2+2?"), conversation, start=1, candidate_index=0,
        ...     sample_index=0, judgement=Judgement(grade="A"), error=None,
        ...     metrics={"interactivity": lambda s: s.judgement.interactivity},
        ...     weights={}, token_lambda=0.0)
        >>> sample.reward, [m.content for m in sample.future]
        (1.0, ['thanks'])
    """
    sample = ForwardSample(
        candidate_index=candidate_index,
        sample_index=sample_index,
        future=list(conversation[start + 1 :]),
        judgement=judgement,
        error=error,
        stop_reason=stop_reason,
        fidelity=fidelity or FidelityCounts(),
    )
    if error is not None or judgement is None:
        return sample
    scored = MetricInput(
        task=task, conversation=conversation, window=conversation[start:], judgement=judgement
    )
    try:
        sample.components, sample.reward = weighted_components(
            scored, metrics, weights=weights, token_lambda=token_lambda, counter=counter
        )
    except MetricError as metric_error:
        sample.error = f"metric: MetricError: {metric_error}"
    return sample


def aggregate(candidate: BaseMessage, samples: Sequence[ForwardSample]) -> MultiturnReward:
    """Mean, standard error and per-component means over the valid samples.

    Example:
        >>> from langchain_core.messages import AIMessage
        >>> samples = [ForwardSample(candidate_index=0, sample_index=s, reward=r)
        ...            for s, r in enumerate([0.5, 1.0])]
        >>> aggregate(AIMessage("Sure!"), samples).mean
        0.75
    """
    valid = [s for s in samples if s.reward is not None]
    stats = MetricStats.of([s.reward for s in valid])
    names = valid[0].components if valid else {}
    components = {name: sum(s.components[name] for s in valid) / len(valid) for name in names}
    ordered = sorted(samples, key=lambda s: s.sample_index)
    stops = Counter(s.stop_reason for s in ordered if s.stop_reason)
    return MultiturnReward(
        fidelity=sum((s.fidelity for s in ordered), FidelityCounts()),
        stop_reasons=dict(stops),
        candidate=candidate,
        mean=stats.mean,
        stderr=stats.stderr,
        components=components,
        samples=ordered,
        n_failed=len(samples) - len(valid),
        n_gave_up=sum(gave_up(s.error) for s in samples),
    )


def best_index(scores: Sequence[float | None]) -> int:
    """The index of the best candidate by MR, the one rule for "best by MR": the highest
    finite score; a candidate without one (every future masked) never wins, it loses to any
    candidate with one; on ties the earlier candidate wins.

    Raises:
        ScoringError: no candidate has a finite MR: there is nothing to choose by.

    Example:
        >>> best_index([None, 0.4, 0.9, 0.9])
        2
        >>> best_index([None, None])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        langgraph_collab.errors.ScoringError: no candidate has a finite MR (2 candidates)...
    """
    if not scores:
        raise ValueError("no candidates to choose from")
    finite = [k for k, score in enumerate(scores) if score is not None and math.isfinite(score)]
    if not finite:
        raise ScoringError(
            f"no candidate has a finite MR ({len(scores)} candidates)",
            [f"MR {score}" for score in scores],
        )
    return max(finite, key=lambda k: (scores[k], -k))


def as_candidate(candidate: str | BaseMessage) -> AIMessage:
    """A candidate reply as a fresh ``AIMessage``: without the message's id, so the
    conversation's ``add_messages`` reducer appends it instead of replacing a message.

    Example:
        >>> as_candidate(AIMessage("Hi", id="run-1")).id is None
        True
    """
    if isinstance(candidate, str):
        return AIMessage(candidate)
    if isinstance(candidate, AIMessage):
        return candidate.model_copy(update={"id": None})
    raise TypeError(f"A candidate must be a string or an AIMessage, not {type(candidate).__name__}")
