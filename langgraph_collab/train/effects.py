"""Effects the method predicts, measured in a run's own collected data (no hand-set numbers).

CollabLLM predicts that replies which collaborate (the "Proactive Base" prompt: ask, then
suggest) lead to better futures, so a higher Multiturn-aware Reward than passive replies;
and training needs MR to separate the candidates of a turn (the DPO pair's gap). Both are
measured here from the records, with n and the standard error; when a difference is within
two standard errors of zero, the report says so in one line instead of claiming it.

Example:
    >>> from langgraph_collab.train.effects import effect_lines
    >>> effect_lines([])
    ['No scored candidates in this run: no effect to measure.']
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from langgraph_collab.records import ConversationRecord
from langgraph_collab.scoring import MetricStats


def _cell(stats: MetricStats) -> str:
    return f"{stats.mean:.3f} ± {stats.stderr:.3f} (n={stats.n})"


def proactive_vs_base(records: Sequence[ConversationRecord]) -> tuple[MetricStats, MetricStats]:
    """MR of the proactive-prompt candidates and of the plain ones, over every turn."""
    proactive, base = [], []
    for record in records:
        for turn in record.turns:
            for candidate in turn.candidates:
                if candidate.mr is not None:
                    (proactive if candidate.proactive else base).append(candidate.mr)
    return MetricStats.of(proactive), MetricStats.of(base)


def chosen_rejected_gap(records: Sequence[ConversationRecord]) -> MetricStats:
    """MR of the best minus the worst candidate, per turn with two scored candidates."""
    gaps = []
    for record in records:
        for turn in record.turns:
            if pair := turn.best_and_worst():
                gaps.append(pair[0].mr - pair[1].mr)
    return MetricStats.of(gaps)


def effect_lines(records: Sequence[ConversationRecord]) -> list[str]:
    """The report's lines on the measured effects."""
    proactive, base = proactive_vs_base(records)
    if not proactive.n and not base.n:
        return ["No scored candidates in this run: no effect to measure."]
    lines = []
    if proactive.n and base.n:
        diff = proactive.mean - base.mean
        se = math.hypot(proactive.stderr, base.stderr)
        lines.append(
            f"MR of proactive-prompt candidates {_cell(proactive)} vs plain ones {_cell(base)}:"
            f" difference {diff:+.3f} ± {se:.3f}."
        )
        if abs(diff) < 2 * se or not se:
            lines.append(
                "Within two standard errors of zero: this run's model does not move it "
                "measurably (the method predicts proactive > plain)."
            )
    gap = chosen_rejected_gap(records)
    if gap.n:
        lines.append(f"MR gap chosen - rejected per turn (the DPO signal): {_cell(gap)}.")
    return lines
