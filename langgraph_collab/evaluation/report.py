"""The evaluation's report: per model, task kind and metric, the mean, its standard error
and n; a table shaped like the paper's Table 1 (markdown), a JSON file, a PNG plot.

Example:
    >>> report = EvaluationReport.from_rows([], models=["base"], max_turns=3)
    >>> report.n_failed
    0
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from langgraph_collab.collection.storage import prepare_out_dir
from langgraph_collab.reward.scoring import MetricStats
from langgraph_collab.state import FidelityCounts
from langgraph_collab.tasks.kinds import task_kind

KIND_ORDER = ("document", "code", "math", "ambiguity")
"""Kinds in the paper's column order; other kinds follow in order of appearance."""
KIND_LABELS = {"document": "Doc", "code": "Code", "math": "Math", "ambiguity": "Abg"}
METRIC_LABELS = {"bleu": "BLEU", "pass_rate": "PR", "accuracy": "ACC", "clarification": "CLR"}
ASK_RATES = ("ask_rate_ambiguous", "ask_rate_unambiguous")


class ConversationResult(BaseModel):
    """One simulated conversation of one model on one task, and its metrics.

    ``metrics``: the task metric (by name), ``tokens_k``, ``itr`` (paper scale),
    ``interactivity`` (0..1) and, for ambiguity-marked tasks, ``asked`` (0/1). A failed
    conversation has ``failure`` set and is left out of every mean.
    """

    task_id: str
    kind: str
    model: str
    metrics: dict[str, float] = Field(default_factory=dict)
    grade: str | None = None
    ambiguous: bool | None = None
    turns: int = 0
    messages: list[dict[str, str]] = Field(default_factory=list)
    failure: str | None = None
    stop_reason: str | None = None
    fidelity: FidelityCounts = Field(default_factory=FidelityCounts)


class SimulatorFidelity(BaseModel):
    """How the simulated user behaved in one model's conversations: its kept and rejected
    turns (by reason), why the conversations ended, and their length in turns."""

    user_model: str | None = None
    counts: FidelityCounts = Field(default_factory=FidelityCounts)
    stop_reasons: dict[str, int] = Field(default_factory=dict)
    turns: MetricStats = Field(default_factory=MetricStats)

    @classmethod
    def of(cls, rows: Sequence[ConversationResult], user_model: str | None) -> SimulatorFidelity:
        stops = Counter(row.stop_reason or "unknown" for row in rows)
        return cls(
            user_model=user_model,
            counts=sum((row.fidelity for row in rows), FidelityCounts()),
            stop_reasons=dict(stops),
            turns=MetricStats.of([float(row.turns) for row in rows if row.failure is None]),
        )

    def line(self) -> str:
        """One line: user turns, rejected shares by reason, stop reasons, mean turns."""
        shares = ", ".join(f"{r} {100 * v:.0f}%" for r, v in self.counts.shares().items())
        stops = ", ".join(f"{r} {n}" for r, n in sorted(self.stop_reasons.items()))
        turns = f"{self.turns.mean:.1f}" if self.turns.mean is not None else "n/a"
        return (
            f"{self.counts.generated} user turns written, rejected: {shares or 'none'}; "
            f"stops: {stops or 'none'}; mean turns {turns}"
        )


class EvaluationReport(BaseModel):
    """Results per model: ``stats[model][kind][metric]``, every conversation in ``rows``,
    and the simulated user's behaviour per model (``fidelity``)."""

    models: list[str]
    kinds: list[str]
    task_metrics: dict[str, str]
    max_turns: int
    stats: dict[str, dict[str, dict[str, MetricStats]]]
    failed: dict[str, dict[str, int]]
    rows: list[ConversationResult]
    fidelity: dict[str, SimulatorFidelity] = Field(default_factory=dict)
    wall_s: float = 0.0

    @classmethod
    def from_rows(
        cls,
        rows: Sequence[ConversationResult],
        *,
        models: Sequence[str],
        max_turns: int,
        user_model: str | None = None,
        **kw: Any,
    ) -> EvaluationReport:
        """Aggregate conversation rows (failed ones counted apart) into a report."""
        seen = list(dict.fromkeys(row.kind for row in rows))
        kinds = [k for k in KIND_ORDER if k in seen] + [k for k in seen if k not in KIND_ORDER]
        task_metrics = {kind: task_kind(kind).metrics[0] for kind in kinds}
        stats: dict[str, dict[str, dict[str, MetricStats]]] = {model: {} for model in models}
        failed: dict[str, dict[str, int]] = {model: {} for model in models}
        for model, kind in itertools.product(models, kinds):
            mine = [r for r in rows if r.model == model and r.kind == kind]
            ok = [r for r in mine if r.failure is None]
            failed[model][kind] = len(mine) - len(ok)
            names = (task_metrics[kind], "tokens_k", "itr", "interactivity", "asked")
            by_metric = {
                n: MetricStats.of([r.metrics[n] for r in ok if n in r.metrics]) for n in names
            }
            if by_metric["asked"].n:
                for name, ambiguous in zip(ASK_RATES, (True, False), strict=True):
                    asked = [r.metrics["asked"] for r in ok if r.ambiguous is ambiguous]
                    by_metric[name] = MetricStats.of(asked)
            else:
                del by_metric["asked"]
            stats[model][kind] = by_metric
        fields = {"kinds": kinds, "task_metrics": task_metrics, "stats": stats, "failed": failed}
        fields["fidelity"] = {
            model: SimulatorFidelity.of([r for r in rows if r.model == model], user_model)
            for model in models
        }
        return cls(models=list(models), max_turns=max_turns, rows=list(rows), **fields, **kw)

    @classmethod
    def load(cls, path: str | Path) -> EvaluationReport:
        """Read a ``report.json`` written by :meth:`save`."""
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))

    def stat(self, model: str, kind: str, metric: str) -> MetricStats:
        """``stats[model][kind][metric]``, empty when absent."""
        return self.stats.get(model, {}).get(kind, {}).get(metric, MetricStats())

    @property
    def n_failed(self) -> int:
        return sum(row.failure is not None for row in self.rows)

    def _label(self, kind: str, metric: str) -> str:
        labels = {"tokens_k": "tok (k)", "itr": "ITR", **METRIC_LABELS}
        labels |= {name: f"ask, {name.removeprefix('ask_rate_')} (%)" for name in ASK_RATES}
        return f"{KIND_LABELS.get(kind, kind)} {labels.get(metric, metric)}"

    @staticmethod
    def _scale(metric: str) -> float:
        return 1.0 if metric == "tokens_k" else 100.0

    def _cell(self, stats: MetricStats, metric: str, *, with_n: bool = False) -> str:
        if stats.mean is None:
            return "n/a"
        scale, digits = self._scale(metric), 2 if metric == "tokens_k" else 1
        cell = f"{stats.mean * scale:.{digits}f} ± {stats.stderr * scale:.{digits}f}"
        return f"{cell} (n={stats.n})" if with_n else cell

    def _panels(self) -> list[tuple[str, str]]:
        panels = []
        for kind in self.kinds:
            panels += [(kind, self.task_metrics[kind]), (kind, "tokens_k"), (kind, "itr")]
            if any(ASK_RATES[0] in self.stats[model][kind] for model in self.models):
                panels += [(kind, name) for name in ASK_RATES]
        return panels

    def to_markdown(self) -> str:
        """A table shaped like the paper's Table 1 (one row per model; per kind: task
        metric / tokens (k) / ITR / n), then ask-rates where tasks are marked ambiguous."""
        main = [(k, m) for k in self.kinds for m in (self.task_metrics[k], "tokens_k", "itr")]
        header = ["model"]
        for kind in self.kinds:
            header += [self._label(kind, m) for m in (self.task_metrics[kind], "tokens_k", "itr")]
            header.append(f"{KIND_LABELS.get(kind, kind)} n")
        lines = [_row(header), "|" + "---|" * len(header)]
        for model in self.models:
            cells = [model]
            for kind in self.kinds:
                cells += [self._cell(self.stat(model, k, m), m) for k, m in main if k == kind]
                n, failed = self.stat(model, kind, "itr").n, self.failed[model][kind]
                cells.append(f"{n} (+{failed} failed)" if failed else str(n))
            lines.append(_row(cells))
        asks = [(k, m) for k, m in self._panels() if m in ASK_RATES]
        if asks:
            head = ["model", *(self._label(k, m) for k, m in asks)]
            lines += ["", _row(head), "|" + "---|" * len(head)]
            for model in self.models:
                cells = [self._cell(self.stat(model, k, m), m, with_n=True) for k, m in asks]
                lines.append(_row([model, *cells]))
        lines += [
            "",
            f"Mean ± standard error over n conversations (max_turns={self.max_turns}); "
            "failed conversations are counted, not scored. Task metric, ITR and ask "
            "rates x100; ITR is 2 * (S - 2.5) with A=3, B=2, C=1; tokens (k): the whole "
            "conversation, cl100k_base.",
        ]
        lines += ["", *self.fidelity_lines()]
        return "\n".join(lines) + "\n"

    def fidelity_lines(self) -> list[str]:
        """The simulator-fidelity section: per model, the user turns written and the
        share rejected by reason, the stop reasons and the mean number of turns."""
        user = next((f.user_model for f in self.fidelity.values() if f.user_model), None)
        lines = [f"Simulated user{f' ({user})' if user else ''}, per assistant:"]
        lines += [f"- {model}: {self.fidelity[model].line()}" for model in self.fidelity]
        return lines

    def summary(self) -> str:
        """A one-screen summary: one line per model and kind."""
        lines = [
            f"Evaluated {len(self.rows)} conversations ({self.n_failed} failed), "
            f"{len(self.models)} models x {len(self.kinds)} kinds, max_turns={self.max_turns}, "
            f"{self.wall_s:.1f} s"
        ]
        width = max((len(m) for m in self.models), default=5)
        for model in self.models:
            for kind in self.kinds:
                parts = [
                    f"{self._label('', metric).strip()} {self._cell(stats, metric)}"
                    for metric, stats in self.stats[model][kind].items()
                    if metric not in ("interactivity", "asked")
                ]
                n, failed = self.stat(model, kind, "itr").n, self.failed[model][kind]
                parts.append(f"n={n}" + (f" +{failed} failed" if failed else ""))
                lines.append(f"{model:<{width}}  {kind:<9} " + "  ".join(parts))
        return "\n".join([*lines, *self.fidelity_lines()])

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``report.md``, ``report.json`` and ``report.png`` (matplotlib, Agg) into
        ``out_dir``; returns their paths. Without matplotlib the plot is skipped, warned."""
        out = prepare_out_dir(out_dir)
        paths = {"md": out / "report.md", "json": out / "report.json", "png": out / "report.png"}
        paths["md"].write_text(
            f"# Evaluation\n\n{self.to_markdown()}\n```\n{self.summary()}\n```\n", encoding="utf-8"
        )
        paths["json"].write_text(self.model_dump_json(indent=2), encoding="utf-8")
        try:
            self.plot(paths["png"])
        except ImportError as error:
            warnings.warn(f"report.png skipped ({error}): pip install matplotlib", stacklevel=2)
            del paths["png"]
        return paths

    def plot(self, path: str | Path) -> Path:
        """Save a PNG: one subplot per metric (and kind), one bar per model, stderr bars."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        panels = self._panels() or [("", "")]
        ncols = min(3, len(panels))
        nrows = math.ceil(len(panels) / ncols)
        figure = Figure(figsize=(4.2 * ncols, 3.2 * nrows), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
        colors = [f"C{i % 10}" for i in range(len(self.models))]
        for ax, (kind, metric) in zip(axes, panels, strict=False):
            scale = self._scale(metric)
            stats = [self.stat(model, kind, metric) for model in self.models]
            heights = [s.mean * scale if s.mean is not None else 0.0 for s in stats]
            errors = [s.stderr * scale for s in stats]
            ax.bar(self.models, heights, yerr=errors, capsize=4, color=colors)
            ax.set_title(self._label(kind, metric) if kind else "no results", fontsize=10)
            ax.axhline(0, color="black", linewidth=0.6)
            ax.tick_params(axis="x", labelsize=8)
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        figure.suptitle("mean ± stderr; task metric, ITR and ask rates x100", fontsize=10)
        figure.savefig(path, format="png", dpi=100)
        return Path(path)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"
