"""The MR settings as one value: :class:`RewardOptions`, checked once when it is made.

Every entry point that computes an MR (the reward graph, :func:`score_candidates`,
collection, the collaborative node and middleware, the training config) takes the same
object, so a setting has one name, one default and one check everywhere. Keyword
arguments of those entry points that name a field (``samples=2``) are sugar for
``dataclasses.replace(options, samples=2)``.

Example:
    >>> options = RewardOptions(samples=2, window=1)
    >>> options.with_overrides(window=3).window
    3
    >>> RewardOptions(sample=2)
    Traceback (most recent call last):
    ...
    TypeError: RewardOptions.__init__() got an unexpected keyword argument 'sample'
    >>> RewardOptions.of(None, sample=2)
    Traceback (most recent call last):
    ...
    langgraph_collab.options_check.OptionError: sample: unknown MR option (did you mean ...?); ...
"""

from __future__ import annotations

import dataclasses
import difflib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph_collab._runtime.graph_cache import value_key
from langgraph_collab.options_check import (
    OptionError,
    Problem,
    did_you_mean,
    flag,
    function,
    instance,
    metric_names,
    names,
    number,
    raise_problems,
    weight_values,
    whole,
)
from langgraph_collab.reward.adaptive import AdaptiveSampling
from langgraph_collab.reward.fidelity import FidelityGuard
from langgraph_collab.reward.metrics import METRICS, Metric, resolve_metrics
from langgraph_collab.reward.metrics.tokens import TokenCounter
from langgraph_collab.state import Task
from langgraph_collab.tasks.kinds import CHAT, KINDS, KNOWN, task_kind

COMPONENTS_OF_EVERY_KIND = ("token_penalty", "tokens")
"""Reward components besides the metrics, which ``weights`` may also name."""

MetricsOption = Sequence[str | Metric] | Mapping[str, str | Metric] | None


@dataclass(frozen=True, kw_only=True)
class RewardOptions:
    """How an MR is computed: ``MR = mean over samples of R*(candidate + future)``.

    Attributes:
        samples: S, forward samples per candidate (paper: 3).
        window: w, future turns per sample (paper: 2); 0 scores the candidate alone.
        metrics: Metric names or callables; None: the task kind's
            (:func:`~langgraph_collab.tasks.kinds.task_kind`).
        weights: Weight per component (default 1 for each metric and ``token_penalty``).
        token_lambda: lambda of the token penalty; None: the task kind's (paper: 5e-4 for
            math and code, 1e-4 for documents).
        token_counter: ``str -> int``; None: tiktoken ``cl100k_base`` (offline).
        fidelity: The guard on every simulated-user turn of the futures (True: the rule
            checks; a :class:`~langgraph_collab.reward.fidelity.FidelityGuard`; False:
            none). A future whose user keeps failing it is masked and counted.
        grounded_stop: End a future when the task's goal is met
            (:mod:`langgraph_collab.reward.stopping`). Off for a plain MR, so a future's
            length is the simulator's choice; collection and evaluation turn it on.
        adaptive: Draw futures in rounds and stop a candidate's once the best is clear
            (:class:`~langgraph_collab.reward.adaptive.AdaptiveSampling`; opt-in).

    Made once, checked once: a wrong value raises
    :class:`~langgraph_collab.options_check.OptionError` naming each bad field. Equal
    options are equal values (the reward graph's cache is keyed by them).

    Example:
        >>> from langgraph_collab import Task
        >>> options = RewardOptions(samples=2, window=1, weights={"interactivity": 0.5})
        >>> options == RewardOptions(samples=2, window=1, weights={"interactivity": 0.5})
        True
        >>> task = Task(kind="document", request="Tighten my intro.")
        >>> list(options.metrics_for(task)), options.lambda_for(task)
        (['bleu', 'interactivity'], 0.0001)
    """

    samples: int = 3
    window: int = 2
    metrics: MetricsOption = None
    weights: Mapping[str, float] | None = None
    token_lambda: float | None = None
    token_counter: TokenCounter | None = None
    fidelity: FidelityGuard | bool = True
    grounded_stop: bool = False
    adaptive: AdaptiveSampling | None = None

    def __post_init__(self) -> None:
        if isinstance(self.metrics, list):  # a list would make the value unhashable
            object.__setattr__(self, "metrics", tuple(self.metrics))
        raise_problems(_problems(self))

    @classmethod
    def of(
        cls,
        options: RewardOptions | None = None,
        /,
        *,
        defaults: Mapping[str, Any] = {},
        **overrides: Any,
    ) -> RewardOptions:
        """``options`` (or the defaults) with ``overrides``, the keyword sugar of an
        entry point; a name that is no field is an ``OptionError`` with a did-you-mean.
        ``defaults`` are an entry point's own defaults, used only without ``options``."""
        if options is not None and not isinstance(options, RewardOptions):
            raise OptionError(
                f"options={options!r:.80}: must be a RewardOptions (or None), not "
                f"{type(options).__name__}"
            )
        unknown = [key for key in overrides if key not in FIELDS]
        if unknown:
            hint = did_you_mean(unknown[0], FIELDS)
            raise OptionError(
                f"{unknown[0]}: unknown MR option{hint}; the options are {', '.join(FIELDS)}"
            )
        base = options if options is not None else cls(**defaults)
        return base.with_overrides(**overrides) if overrides else base

    def __hash__(self) -> int:
        return hash(self.key())

    def with_overrides(self, **changes: Any) -> RewardOptions:
        """A copy with ``changes`` (checked like a new one)."""
        return dataclasses.replace(self, **changes)

    def key(self) -> tuple:
        """A hashable key equal for equal options: plain values by value, callables and
        unhashable guards by identity (the caller keeps the options alive)."""
        return tuple(value_key(getattr(self, name)) for name in FIELDS)

    def metrics_for(self, task: Task) -> dict[str, Metric]:
        """The metrics scoring ``task``: ``metrics`` or its kind's."""
        return resolve_metrics(
            self.metrics if self.metrics is not None else task_kind(task.kind).metrics
        )

    def weights_for(self, task: Task, names: Sequence[str]) -> dict[str, float]:
        """The weights of ``names`` for ``task``: its kind's, then ``weights``."""
        kind_weights = {k: v for k, v in task_kind(task.kind).weights.items() if k in names}
        return {**kind_weights, **(self.weights or {})}

    def lambda_for(self, task: Task) -> float:
        """The token penalty's lambda for ``task``: ``token_lambda`` or its kind's."""
        return (
            self.token_lambda
            if self.token_lambda is not None
            else task_kind(task.kind).token_lambda
        )


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RewardOptions))
"""The names of the MR options, in order."""


def _metric_keys(metrics: Any) -> list[str]:
    if isinstance(metrics, Mapping):
        return [str(key) for key in metrics]
    return [m if isinstance(m, str) else getattr(m, "__name__", repr(m)) for m in metrics]


def _problems(options: RewardOptions) -> list[Problem]:
    """The problems of ``options``. ``weights`` may name the metrics in use (``metrics``,
    or, when None, any task kind's) and ``token_penalty`` / ``tokens``; per task,
    :func:`task_problems` narrows that down."""
    metrics = options.metrics
    metric_problem = metric_names(metrics, list(METRICS))
    if metrics is None:
        every = [m for kind in (*KINDS.values(), CHAT) for m in kind.metrics]
        allowed = list(dict.fromkeys(every))
    else:
        allowed = [] if metric_problem else _metric_keys(metrics)
    return [
        whole("samples", options.samples, minimum=1),
        whole("window", options.window, minimum=0, why=" (0 scores the candidate alone)"),
        metric_problem,
        weight_values(
            options.weights, None if metric_problem else [*allowed, *COMPONENTS_OF_EVERY_KIND]
        ),
        number("token_lambda", options.token_lambda, minimum=0.0, optional=True,
               why=" (a negative lambda would reward long replies)"),
        function("token_counter", options.token_counter),
        instance("fidelity", options.fidelity, (bool, FidelityGuard),
                 "True, False or a FidelityGuard"),
        flag("grounded_stop", options.grounded_stop),
        instance("adaptive", options.adaptive, (type(None), AdaptiveSampling),
                 "None or an AdaptiveSampling"),
    ]  # fmt: skip


def run_problems(*, max_concurrency: Any = None, timeout: Any = None) -> list[Problem]:
    """The problems of an MR call's run options (``max_concurrency``, ``timeout``); None
    for each option that is fine (:func:`~langgraph_collab.options_check.raise_problems`
    skips those).

    Example:
        >>> run_problems(max_concurrency=0, timeout=30)
        ['max_concurrency=0: must be at least 1, or None', None]
    """
    return [
        whole("max_concurrency", max_concurrency, minimum=1, optional=True),
        number("timeout", timeout, minimum=0.0, optional=True, why=" seconds"),
    ]


def task_problems(tasks: Any, *, metrics: Any = None, weights: Any = None) -> list[Problem]:
    """The problems of the tasks an entry point scores: each must be a ``Task``, and
    ``weights`` must name its kind's components. A kind that is not one of
    :data:`~langgraph_collab.tasks.kinds.KNOWN` but close to one (``maths``) is a typo: a
    problem with a did-you-mean, unless ``metrics`` is given. A kind of your own (close to
    none) gets the documented default, the chat kind's metrics (interactivity and the
    token penalty), with a ``RuntimeWarning`` once per kind; ``metrics=`` chooses others.

    Example:
        >>> task_problems([Task(kind="maths", request="2+2?")])  # doctest: +ELLIPSIS
        ["task 'task': unknown task kind 'maths'; did you mean 'math'? ..."]
        >>> task_problems([Task(kind="math", request="2+2?")])
        []
    """
    if isinstance(tasks, Task | str | bytes) or not isinstance(tasks, Iterable):
        return [f"tasks={tasks!r:.80}: must be a list of langgraph_collab.Task (see load_tasks)"]
    out: list[Problem] = []
    warned: set[str] = set()
    for task in tasks:
        if not isinstance(task, Task):
            return [f"tasks: {task!r:.80} is not a langgraph_collab.Task (see load_tasks)"]
        if metrics is None and task.kind not in KNOWN:
            close = difflib.get_close_matches(str(task.kind).lower(), KNOWN, n=1, cutoff=0.6)
            if close:
                return [
                    f"task {task.id!r}: unknown task kind {task.kind!r}; did you mean "
                    f"{close[0]!r}? Use one of {', '.join(KINDS)}, or chat (interactivity "
                    "only), or give metrics= to score a kind of your own"
                ]
            if task.kind not in warned:
                warned.add(task.kind)
                warnings.warn(
                    f"task kind {task.kind!r} is none of {', '.join(KNOWN)}: scored as chat "
                    "(interactivity and the token penalty); give metrics= to choose its metrics",
                    RuntimeWarning,
                    stacklevel=3,
                )
        if metrics is None and isinstance(weights, Mapping):
            allowed = [*task_kind(task.kind).metrics, *COMPONENTS_OF_EVERY_KIND]
            out.append(names(f"weights (task {task.id!r}, kind {task.kind!r})", weights,
                             allowed, "component"))  # fmt: skip
    return list(dict.fromkeys(out))


__all__ = ["FIELDS", "RewardOptions", "run_problems", "task_problems"]
