"""The lookahead's typed contracts: its options (:class:`LookaheadOptions`, one object for
the collaborative node and middleware), what sampling hands to scoring (:class:`Sampled`),
the human turn's interrupt payload and resume value, and the turn's record in state
(:class:`LookaheadTurn`).

Example:
    >>> options = LookaheadOptions(candidates=2)
    >>> options.reward.samples, options.reward.window
    (2, 1)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from typing_extensions import TypedDict

from langgraph_collab.agents.budget import Budget
from langgraph_collab.options_check import OptionError, did_you_mean, raise_problems, whole
from langgraph_collab.reward.options import FIELDS, RewardOptions, run_problems, task_problems
from langgraph_collab.state import Task


class LookaheadTurn(TypedDict, total=False):
    """A lookahead turn, under the ``collab`` state key: ``candidates`` (texts), ``scores``
    (MR means; None when unscored), ``stderr``, ``components`` (mean per reward component),
    ``n_valid`` (futures scored: a budget that runs out keeps the finished ones, a
    partial MR), ``n_failed`` (masked futures), ``n_gave_up`` (those the fidelity guard gave
    up on), ``rejected`` (the simulated user's turns rejected by
    the fidelity guard, by reason, per candidate), ``chosen`` (index into these lists), ``user``
    (``"simulated"`` or ``"human"``), ``replies`` (the human's), ``forks`` (``"checkpoint"``
    or ``"copy"``), ``fork_threads`` (with ``keep_forks``), ``calls`` and ``tokens`` (every
    model call of the turn), ``seconds``, ``budget_exhausted``, ``note`` (no lookahead)."""

    mode: str
    user: str
    candidates: list[str]
    scores: list[float | None]
    stderr: list[float | None]
    components: list[dict[str, float]]
    n_valid: list[int]
    n_failed: list[int]
    n_gave_up: list[int]
    rejected: list[dict[str, int]]
    chosen: int
    replies: list[str]
    forks: str
    fork_threads: list[str]
    calls: int
    tokens: int
    seconds: float
    budget_exhausted: bool
    note: str


class SampledCandidate(TypedDict):
    """One candidate reply: the messages it adds to the conversation, and its text."""

    messages: list[Any]
    text: str


class Sampled(TypedDict, total=False):
    """What sampling hands to scoring, JSON-able (a durable task keeps it across a human
    interrupt, through the checkpoint's serializer): the forks' ``prefix`` and
    ``threads``, ``values`` (copy forks), ``keys`` (the candidates' indices) and the
    ``candidates``; or ``step`` alone, an intermediate step (tool calls) passed through
    unscored."""

    prefix: str
    threads: list[str]
    values: dict[str, Any]
    keys: list[int]
    candidates: list[SampledCandidate]
    step: list[Any]


class HumanTurnRequest(TypedDict):
    """The interrupt's payload when a person plays the user: one reply is wanted per
    candidate."""

    kind: Literal["collab_user_turn"]
    instructions: str
    candidates: list[str]


HumanTurnResponse = list[str] | dict[str, str]
"""The resume value: the user's message after each candidate, in order (a list, or a
mapping from the candidate's index as a string)."""


@dataclass(frozen=True, kw_only=True)
class LookaheadOptions:
    """How a collaborative node or middleware looks ahead, one object for both.

    Attributes:
        user: The simulated user (anything :func:`create_simulated_user` takes), or
            ``"human"``: the agent interrupts with the candidates and resumes with the
            user's next message after each (one future each, S = w = 1; needs a
            checkpointer). Default: the agent's model when the agent is a chat model.
        judge: Anything :func:`create_judge` takes; default: as ``user``.
        candidates: N candidate replies per turn.
        budget: A :class:`Budget` (or a dict of its fields) per turn; None: unbounded.
        task: The simulated user's goal (a Task, or ``state -> Task``); default: the
            state's ``task`` if it holds a Task, else :func:`conversation_task`.
        proactive: Sample every other candidate under the proactive prompt (the paper's
            mix for data generation).
        fork: ``"auto"`` (checkpoint forks when there is a checkpointer, else copies),
            ``"checkpoint"`` or ``"copy"``.
        keep_forks: Keep fork threads (listed in ``fork_threads``) for inspection.
        max_concurrency: Futures in flight per candidate.
        reward: The MR settings; lookahead defaults to S=2 futures of w=1 turn.

    Example:
        >>> LookaheadOptions.of(None, candidates=2, samples=3).reward.samples
        3
    """

    user: Any = None
    judge: Any = None
    candidates: int = 3
    budget: Budget | Mapping[str, float] | None = None
    task: Task | Callable[[dict], Task] | None = None
    proactive: bool = False
    fork: Literal["auto", "checkpoint", "copy"] = "auto"
    keep_forks: bool = False
    max_concurrency: int | None = None
    reward: RewardOptions = field(default_factory=lambda: RewardOptions(samples=2, window=1))

    def __post_init__(self) -> None:
        if not isinstance(self.reward, RewardOptions):
            raise OptionError(f"reward={self.reward!r:.80}: must be a RewardOptions")
        if self.fork not in ("auto", "checkpoint", "copy"):
            raise OptionError(f"fork={self.fork!r}: must be 'auto', 'checkpoint' or 'copy'")
        raise_problems(
            [
                whole("candidates", self.candidates, minimum=1),
                *run_problems(max_concurrency=self.max_concurrency),
                *(task_problems([self.task], metrics=self.reward.metrics,
                                weights=self.reward.weights)
                  if isinstance(self.task, Task) else ()),
            ]
        )  # fmt: skip

    @classmethod
    def of(cls, options: LookaheadOptions | None = None, /, **overrides: Any) -> LookaheadOptions:
        """``options`` (or the defaults) with ``overrides``: a field of this class or of
        :class:`~langgraph_collab.reward.options.RewardOptions` (``samples=3``)."""
        options = options if options is not None else cls()
        own = {key: overrides.pop(key) for key in list(overrides) if key in LOOKAHEAD_FIELDS}
        unknown = [key for key in overrides if key not in FIELDS]
        if unknown:
            known = [*LOOKAHEAD_FIELDS, *FIELDS]
            raise OptionError(
                f"{unknown[0]}: unknown lookahead option{did_you_mean(unknown[0], known)}"
            )
        if overrides:
            own["reward"] = own.get("reward", options.reward).with_overrides(**overrides)
        return dataclasses.replace(options, **own) if own else options


LOOKAHEAD_FIELDS = tuple(f.name for f in fields(LookaheadOptions))
