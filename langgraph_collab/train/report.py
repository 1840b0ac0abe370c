"""The run's report: what each stage did, the effects the method predicts measured in the
run's own records, and how the simulated user behaved (fidelity).

Measured effects: CollabLLM predicts that replies which collaborate (the "Proactive Base"
prompt: ask, then suggest) lead to better futures, so a higher Multiturn-aware Reward than
passive replies; and training needs MR to separate the candidates of a turn (the DPO pair's
gap). Both come from the records, with n and the standard error; a difference within two
standard errors of zero is called so in one line instead of claimed.

Example:
    >>> from langgraph_collab.train.report import effect_lines
    >>> effect_lines([])
    ['No scored candidates in this run: no effect to measure.']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langgraph_collab.collection.records import ConversationRecord, read_records
from langgraph_collab.collection.sharding import read_shards
from langgraph_collab.reward.scoring import MetricStats
from langgraph_collab.state import FidelityCounts


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


def _records(collected: dict | None) -> list[ConversationRecord]:
    """The records this run's collection wrote to, if any."""
    path = Path(collected["records_path"]) if collected else None
    if path and path.is_dir():  # --workers: every shard's
        return read_shards(path, allow_missing=True)
    return read_records(path) if path and path.is_file() else []


def fidelity_lines(collected: dict | None) -> list[str]:
    """The report's fidelity section for collection (evaluation's is in its table's notes):
    the simulated user's turns rejected by reason, stop reasons and mean turns."""
    if not collected or "fidelity" not in collected:
        return ["collect: no new records in this run."]
    counts = FidelityCounts.model_validate(collected["fidelity"])
    shares = ", ".join(f"{r} {100 * v:.1f}%" for r, v in counts.shares().items()) or "none"
    stops = ", ".join(f"{r} {n}" for r, n in sorted(collected["stop_reasons"].items()))
    turns = collected.get("mean_turns")
    return [
        f"collect, simulated user {collected.get('user_model') or ''}: {counts.generated} user "
        f"turns written (live and in forward samples), {counts.kept} kept; rejected and "
        f"rewritten: {shares}.",
        f"Stop reasons: {stops or 'none'}; mean assistant turns per conversation: "
        f"{'n/a' if turns is None else f'{turns:.1f}'}.",
    ]


def loss_token_line(trained: Mapping[str, Any]) -> str:
    """What the training data taught: the tokens of one pass that carry loss and those
    ignored (system prompt, user turns, prompts).

    Example:
        >>> print(loss_token_line({"trained_tokens": 120, "ignored_tokens": 360}))
        train data: 120 tokens carry loss (the assistant's), 360 ignored (25.0% trained).
    """
    done, ignored = trained.get("trained_tokens"), trained.get("ignored_tokens")
    if done is None or ignored is None:
        return "train data: the method trains on completions the policy generates."
    share = f" ({100 * done / (done + ignored):.1f}% trained)" if done + ignored else ""
    return f"train data: {done} tokens carry loss (the assistant's), {ignored} ignored{share}."


def report_text(config: Any, state: Mapping[str, Any]) -> str:
    """The report of a pipeline run (``config`` a ``CollabTrainConfig``, ``state`` the
    pipeline's state), as markdown."""
    lines = [f"# langgraph-collab run `{config.name}`", ""]
    lines.append(f"method {config.method}, policy {config.policy}, tasks {config.tasks}")
    if collected := state.get("collected"):
        lines.append(
            f"collect: {collected['recorded']} new records ({collected['skipped']} already "
            f"done, {collected['failed']} failed), {collected['turns']} turns, "
            f"{collected['calls']} model calls in {collected['wall_s']:.0f} s"
        )
    if exported := state.get("exported"):
        lines.append("export: " + ", ".join(f"{k} {v} rows" for k, v in exported.items()))
    if trained := state.get("trained"):
        loss = trained["train_loss"]
        lines.append(
            f"train: {trained['global_step']} steps, loss "
            f"{'n/a' if loss is None else f'{loss:.3f}'}, {trained['tokens_per_s']:.0f} "
            f"tokens/s, {trained['train_runtime_s']:.0f} s -> {trained['model_path']}"
        )
        lines.append(loss_token_line(trained))
    if evaluated := state.get("evaluated"):
        lines += ["", evaluated["markdown"]]
    lines += ["", "## measured effects", "", *effect_lines(_records(collected))]
    lines += ["", "## fidelity", "", *fidelity_lines(collected)]
    return "\n".join(lines) + "\n"
