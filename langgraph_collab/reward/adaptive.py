"""Adaptive forward sampling: stop sampling a candidate once the choice it feeds is clear.

The paper draws a fixed S futures for every candidate. Most of them are spent on
candidates that are already clearly behind (or clearly ahead). :class:`AdaptiveSampling`
races the candidates instead (successive elimination): every candidate first gets
``first`` futures; then, round after round, each candidate still *open* gets one more,
until none is open or it has ``samples``. A candidate closes when

- its upper confidence bound is below the leader's lower one (it cannot be the best),
- it leads and every other candidate is closed (the choice is made), or
- its MR's standard error is at most ``tolerance`` (when ``tolerance`` > 0).

Bounds are on the MR the candidate would get from all ``samples`` futures, the choice a
full run makes: ``mean +- z * sd * sqrt((S - n) / (S * n))`` after n of S futures (the
spread of the futures to come, whose mean is itself estimated; 0 once all are in), where
a candidate's per-sample spread ``sd`` is never taken below the pooled spread of all
candidates, and that pooled spread starts from a prior (``min_spread``, weighing as
``prior_weight`` futures): two equal rewards out of two say little, so agreement in the
first futures (common with a 0/1 metric and a greedy judge) does not shrink every bound to
a point and close every candidate; the prior fades as futures come in.

What it exports is a sequential decision, not unbiased estimates: each candidate's MR is
the plain mean of the futures it got, with its n (``n_valid``), and how many it got
depends on the rewards seen, so a candidate closed after a poor (or lucky) start keeps
that mean. Use the choice it makes; compare MR values across candidates only with their
n. Every future that starts is awaited and averaged in, fast or slow (cancelling slow
futures would favour short conversations), and no candidate gets more than ``samples``.
Rounds run one after another, so a decision takes longer in wall time while making fewer
calls.

Example:
    >>> rule = AdaptiveSampling(first=2, z=2.0)  # wider bounds than the default 1.0
    >>> rule.open([[0.9, 1.0], [0.0, 0.1], [0.8, 0.2]], attempted=[2, 2, 2], samples=6)
    [True, False, True]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from langgraph_collab.reward.scoring import MetricStats


@dataclass(frozen=True)
class AdaptiveSampling:
    """When to stop forward-sampling a candidate (see the module docstring).

    Args:
        first: Futures every candidate gets before any can close (at least 2: one sample
            has no spread).
        z: Width of the bounds, in standard deviations of the full-S MR: wider bounds make
            fewer early closes (``benchmarks/adaptive_sampling.py`` measures the calls saved
            and how often the full run's choice is made, per z).
        tolerance: Also close a candidate whose MR standard error is at most this; 0
            turns this rule off.
        min_spread: A prior per-sample standard deviation of the reward, pooled with the
            spread observed: 0.5 is the largest a 0/1 task metric can have; 0 turns the
            prior off (then agreeing rewards make point bounds).
        prior_weight: How many futures' worth of spread the prior counts for.

    Example:
        >>> from langgraph_collab import RewardOptions
        >>> RewardOptions(samples=6, adaptive=AdaptiveSampling(z=1.5)).adaptive.first
        2
    """

    first: int = 2
    z: float = 1.0
    tolerance: float = 0.0
    min_spread: float = 0.5
    prior_weight: float = 2.0

    def __post_init__(self) -> None:
        if self.first < 2:
            raise ValueError(f"AdaptiveSampling(first=) must be at least 2, got {self.first}")
        if not (self.z > 0 and math.isfinite(self.z)):
            raise ValueError(f"AdaptiveSampling(z=) must be a positive number, got {self.z}")
        if not (self.tolerance >= 0 and math.isfinite(self.tolerance)):
            raise ValueError(f"AdaptiveSampling(tolerance=) must be >= 0, got {self.tolerance}")
        for name in ("min_spread", "prior_weight"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"AdaptiveSampling({name}=) must be >= 0, got {value}")

    def open(
        self, rewards: Sequence[Sequence[float]], *, attempted: Sequence[int], samples: int
    ) -> list[bool]:
        """Which candidates get another future: ``rewards`` are each candidate's valid
        sample rewards so far, ``attempted`` its futures started (masked ones included),
        ``samples`` the most any candidate may get."""
        stats = [MetricStats.of(list(r)) for r in rewards]
        spread = _pooled_spread(rewards, self.min_spread, self.prior_weight)
        scored = [k for k, s in enumerate(stats) if s.mean is not None]
        if not scored:
            return [n < samples for n in attempted]

        def sd(k: int) -> float:
            own = stats[k].stderr * math.sqrt(stats[k].n)  # back to the per-sample spread
            return max(own, spread)

        def stderr(k: int) -> float:
            return sd(k) / math.sqrt(stats[k].n)

        def bound(k: int, sign: int) -> float:
            # The MR that all `samples` futures would give: the n known rewards plus
            # samples - n to come, whose mean is itself uncertain; none to come, no doubt.
            n = min(stats[k].n, samples)
            spread_of_final = sd(k) * math.sqrt((samples - n) / (samples * n))
            return stats[k].mean + sign * self.z * spread_of_final

        leader = max(scored, key=lambda k: (stats[k].mean, -k))
        behind = {k for k in scored if k != leader and bound(k, +1) < bound(leader, -1)}
        is_open = []
        for k, n in enumerate(attempted):
            if n >= samples or k in behind:
                is_open.append(False)
            elif k not in scored:
                is_open.append(True)  # every future so far was masked: keep trying
            elif self.tolerance and stderr(k) <= self.tolerance:
                is_open.append(False)
            elif k == leader:
                others = [j for j in range(len(attempted)) if j != leader]
                is_open.append(any(j not in behind and attempted[j] < samples for j in others))
            else:
                is_open.append(True)
        return is_open


def _pooled_spread(
    rewards: Sequence[Sequence[float]], prior: float = 0.0, weight: float = 0.0
) -> float:
    """The per-sample standard deviation pooled over candidates with two or more rewards,
    starting from ``prior`` counted as ``weight`` degrees of freedom."""
    squares, degrees = weight * prior**2, weight
    for values in rewards:
        if len(values) > 1:
            mean = math.fsum(values) / len(values)
            squares += math.fsum((v - mean) ** 2 for v in values)
            degrees += len(values) - 1
    return math.sqrt(squares / degrees) if degrees else 0.0
