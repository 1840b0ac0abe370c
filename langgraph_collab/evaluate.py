"""Evaluation: the paper's metrics over full simulated conversations on held-out tasks.

Each assistant (base, "Proactive Base", trained...) talks with the simulated user through a
whole conversation per task; the judge reads it once. Per conversation: the task kind's metric,
tokens (k, ``cl100k_base``), interactivity (ITR on the paper's scale, and 0..1), and for tasks
marked ``metadata["ambiguous"]`` whether the first reply asked for clarification. Failed
conversations are counted, never scored as zero. The report: mean, standard error and n per
model, kind and metric; a table shaped like the paper's Table 1, a JSON file and a PNG plot.

Example:
    >>> from langgraph_collab import load_chat_model
    >>> from langgraph_collab.evaluate import baseline_assistants, evaluate
    >>> from langgraph_collab.tasks import load_tasks
    >>> model = load_chat_model("local", seed=0)  # doctest: +SKIP
    >>> report = evaluate(
    ...     load_tasks("math", split="test", limit=4),
    ...     assistants={**baseline_assistants(model), "trained": policy},
    ...     user=model, judge=model, max_turns=3,
    ... )  # doctest: +SKIP
    >>> print(report.to_markdown())  # doctest: +SKIP
    >>> report.save("runs/eval")  # report.md, report.json, report.png  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field
from tqdm.auto import tqdm

from langgraph_collab._role import describe_model
from langgraph_collab._sync import run_sync
from langgraph_collab.assistant import AssistantLike, create_assistant
from langgraph_collab.conversation import (
    DEFAULT_MAX_TURNS,
    create_conversation_graph,
    recursion_limit,
)
from langgraph_collab.errors import TransientFailure
from langgraph_collab.fidelity import FidelityGuard
from langgraph_collab.judge import JudgeLike, create_judge, paper_itr
from langgraph_collab.metrics import Metric, MetricError, MetricInput, resolve_metrics
from langgraph_collab.metrics.clarification import asks_for_clarification
from langgraph_collab.metrics.tokens import TokenCounter, count_tokens
from langgraph_collab.options_check import flag, function, raise_problems, task_problems, whole
from langgraph_collab.records import to_dicts
from langgraph_collab.scoring import MetricStats, measure
from langgraph_collab.state import FidelityCounts, Task
from langgraph_collab.storage import prepare_out_dir
from langgraph_collab.tasks.kinds import task_kind
from langgraph_collab.tracing import tracing_guard
from langgraph_collab.user import UserLike, create_simulated_user

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


def baseline_assistants(model: Any) -> dict[str, AssistantLike]:
    """The paper's two baselines from one model: ``"base"`` (no system prompt) and
    ``"proactive"`` (the "Proactive Base" prompt). Add ``"trained": policy`` beside them."""
    return {"base": create_assistant(model), "proactive": create_assistant(model, proactive=True)}


def _score(
    task: Task,
    messages: Sequence[BaseMessage],
    judgement: Any,
    metric: tuple[str, Metric],
    counter: TokenCounter | None,
) -> dict[str, float]:
    """The metrics of one judged conversation; raises ``MetricError`` when one cannot be
    computed (the row is then a counted failure), ``PermanentError`` for a metric's bug."""
    name, fn = metric
    if judgement.grade is None and judgement.interactivity is None:
        raise MetricError("the judge gave no interactivity grade")
    sample = MetricInput(task=task, conversation=messages, window=messages, judgement=judgement)
    values = {name: measure(name, fn, sample)}
    values["tokens_k"] = count_tokens(messages, counter=counter) / 1000
    values["interactivity"] = float(judgement.interactivity)
    # The paper's scale; a custom judge's bare 0..1 score maps onto it linearly (1 -> 1, 0 -> -3).
    grade = judgement.grade
    values["itr"] = paper_itr(grade) if grade else 4 * values["interactivity"] - 3
    if isinstance(task.metadata.get("ambiguous"), bool):
        replies = [m for m in messages if isinstance(m, AIMessage) and m.text]
        if not replies:
            raise MetricError("no assistant reply to read the ask from")
        values["asked"] = float(asks_for_clarification(replies[0].text))
    if not all(math.isfinite(v) for v in values.values()):
        raise ValueError(f"non-finite metric value in {values}")
    return values


async def aevaluate(
    tasks: Sequence[Task],
    *,
    assistants: Mapping[str, AssistantLike],
    user: UserLike,
    judge: JudgeLike,
    max_turns: int = DEFAULT_MAX_TURNS,
    max_concurrency: int = 4,
    token_counter: TokenCounter | None = None,
    config: RunnableConfig | None = None,
    progress: bool = True,
    fidelity: FidelityGuard | bool = True,
    grounded_stop: bool = True,
) -> EvaluationReport:
    """Async :func:`evaluate`."""
    if not assistants:
        raise ValueError("Give at least one assistant to evaluate, e.g. {'base': model}")
    raise_problems(
        [
            whole("max_turns", max_turns, minimum=1),
            whole("max_concurrency", max_concurrency, minimum=1),
            function("token_counter", token_counter),
            flag("progress", progress),
            flag("grounded_stop", grounded_stop),
            *task_problems(tasks),
        ]
    )
    if len({task.id for task in tasks}) != len(tasks):
        raise ValueError("Task ids must be unique: each (model, task) is one row of the report")
    graphs = {
        name: create_conversation_graph(
            user=user,
            assistant=assistant,
            max_turns=max_turns,
            fidelity=fidelity,
            grounded_stop=grounded_stop,
        )
        for name, assistant in assistants.items()
    }
    judge_role = create_judge(judge)
    metrics = {
        kind: next(iter(resolve_metrics(task_kind(kind).metrics[:1]).items()))
        for kind in {task.kind for task in tasks}
    }
    base, lanes = dict(config or {}), asyncio.Semaphore(max_concurrency)
    bar = tqdm(total=len(tasks) * len(graphs), disable=not progress, unit="conv")
    start, failures = time.perf_counter(), 0

    async def converse(model: str, task: Task, row: ConversationResult) -> str | None:
        """Fill ``row``; returns why the conversation failed, if it did."""
        run_config: RunnableConfig = {
            **base,
            "recursion_limit": recursion_limit(max_turns),
            "metadata": {**base.get("metadata", {}), "task_id": task.id, "model": model},
            "tags": [*base.get("tags", []), "evaluate", f"model:{model}"],
        }
        state = {"messages": [], "task": task, "turn": 0, "max_turns": max_turns}
        out = await graphs[model].ainvoke(state, run_config)  # permanent errors raise
        messages = list(out.get("messages") or [])
        row.messages, row.turns = to_dicts(messages), out.get("turn", 0)
        row.stop_reason = out.get("stop_reason")
        row.fidelity = out.get("fidelity") or FidelityCounts()
        if out.get("failure"):
            return out["failure"]
        try:
            judgement = await judge_role.ainvoke({"messages": messages, "task": task}, run_config)
        except TransientFailure as error:
            return str(error)
        row.grade = judgement.grade
        try:  # in a thread: pass_rate waits on a sandboxed process
            args = (task, messages, judgement, metrics[task.kind], token_counter)
            row.metrics = await asyncio.to_thread(_score, *args)
        except MetricError as error:
            return f"metric: MetricError: {error}"
        return None

    async def run(model: str, task: Task) -> ConversationResult:
        nonlocal failures
        ambiguous = task.metadata.get("ambiguous")
        row = ConversationResult(task_id=task.id, kind=task.kind, model=model)
        row.ambiguous = ambiguous if isinstance(ambiguous, bool) else None
        async with lanes:
            row.failure = await converse(model, task, row)
        failures += row.failure is not None
        bar.update(1)
        bar.set_postfix(failed=failures, refresh=False)
        return row

    try:
        with tracing_guard():
            rows = await asyncio.gather(*(run(model, task) for model in graphs for task in tasks))
    finally:
        bar.close()
    wall_s = time.perf_counter() - start
    return EvaluationReport.from_rows(
        rows,
        models=list(graphs),
        max_turns=max_turns,
        user_model=describe_model(create_simulated_user(user).model),
        wall_s=wall_s,
    )


def evaluate(
    tasks: Sequence[Task],
    *,
    assistants: Mapping[str, AssistantLike],
    user: UserLike,
    judge: JudgeLike,
    max_turns: int = DEFAULT_MAX_TURNS,
    max_concurrency: int = 4,
    token_counter: TokenCounter | None = None,
    config: RunnableConfig | None = None,
    progress: bool = True,
    fidelity: FidelityGuard | bool = True,
    grounded_stop: bool = True,
) -> EvaluationReport:
    """Evaluate each assistant in full simulated conversations on ``tasks``.

    Args:
        tasks: Held-out tasks (unique ids), e.g. ``load_tasks("math", split="test")``.
        assistants: Name -> assistant (chat model, agent graph, callable or role), e.g.
            ``{**baseline_assistants(model), "trained": policy}``.
        user: The simulated user (a chat model, spec or callable); it opens with
            ``Task.opening`` when the task fixes one.
        judge: Anything :func:`~langgraph_collab.create_judge` takes; one call per conversation.
        max_turns: Assistant replies per conversation (default 7: the paper's 14 messages).
        max_concurrency: Conversations in flight at once.
        token_counter: ``str -> int``; default tiktoken ``cl100k_base`` (offline).
        config: A base run config (callbacks, tags, metadata) for every conversation.
        progress: Show a progress bar.
        fidelity: The guard on every simulated-user turn (True: the rule checks of
            :func:`~langgraph_collab.fidelity.create_fidelity_guard`, False: none); its
            counts, the stop reasons and mean turns per model are in ``report.fidelity``.
        grounded_stop: End a conversation when the task's goal is met (see
            :mod:`langgraph_collab.stopping`), not only on the user's stop token.

    Works from sync code and inside a running event loop (Jupyter); async code can
    await :func:`aevaluate`.
    """
    return run_sync(
        aevaluate(
            tasks,
            assistants=assistants,
            user=user,
            judge=judge,
            max_turns=max_turns,
            max_concurrency=max_concurrency,
            token_counter=token_counter,
            config=config,
            progress=progress,
            fidelity=fidelity,
            grounded_stop=grounded_stop,
        )
    )
