"""The lookahead engine shared by the collaborative node and the collaborative middleware:
the per-turn budget, the simulated (or human) user and judge, MR of each candidate over
futures played by the agent in forks (:mod:`langgraph_collab.agents._forks`), and the choice.

The two entrances differ only in where candidates come from: the node runs the whole
agent once per candidate (:meth:`Forks.candidate`), the middleware samples the model
call N times and adopts each response as a fork (:meth:`Forks.adopt`). Both then call
:meth:`Lookahead.decide`. Behaviour is documented in :mod:`langgraph_collab.agents.node` and
:mod:`langgraph_collab.agents.middleware`.

Example:
    >>> from langgraph_collab.agents.lookahead import Budget, conversation_task
    >>> from langchain_core.messages import HumanMessage
    >>> Budget(seconds=30).seconds
    30
    >>> conversation_task([HumanMessage("Book me a flight")]).request.splitlines()[-1]
    '- "Book me a flight"'
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.errors import GraphBubbleUp
from langgraph.pregel import Pregel
from langgraph.types import interrupt
from typing_extensions import TypedDict

from langgraph_collab.agents._forks import Forks, detached
from langgraph_collab.errors import (
    BudgetExhausted,
    ScoringError,
    TransientFailure,
    is_budget_cut,
)
from langgraph_collab.options_check import OptionError, did_you_mean, raise_problems, whole
from langgraph_collab.reward.options import FIELDS, RewardOptions, run_problems, task_problems
from langgraph_collab.reward.score import ascore_candidates
from langgraph_collab.reward.scoring import MultiturnReward
from langgraph_collab.roles.judge import create_judge
from langgraph_collab.roles.user import create_simulated_user
from langgraph_collab.state import TERMINATE, Task
from langgraph_collab.tracing import UsageLedger, is_cache_hit, with_callback

HUMAN = "human"
HUMAN_INSTRUCTIONS = (
    "Play the user: write the message you would send after each candidate reply, one per "
    f"candidate (a list of strings, in order); end with {TERMINATE} if you would stop there."
)
NO_LOOKAHEAD = "the conversation does not end with a user message: no lookahead"
GRACE = 2.0
"""Seconds past the lookahead's deadline before an MR call that has not returned is
cancelled whole (it normally returns at the deadline with its finished futures)."""


@dataclass(frozen=True)
class Budget:
    """Per-turn limits on the lookahead (None: no limit): model calls, tokens (input +
    output) and seconds. A call answered by a call cache (:mod:`langgraph_collab.roles.cache`)
    is no model call and spends no tokens: it holds a place under ``calls`` only while in
    flight. Candidates are always sampled, and count; once the budget is
    spent no new model call starts, unfinished futures are masked (a call in flight when
    the seconds run out is abandoned, not interrupted), and the turn answers with the best
    candidate scored so far (the first candidate when none is)."""

    calls: int | None = None
    tokens: int | None = None
    seconds: float | None = None


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


def conversation_task(messages: Sequence[BaseMessage], *, kind: str = "chat") -> Task:
    """The simulated user's goal, built from the conversation: what the user said so far."""
    said = [m.text for m in messages if isinstance(m, HumanMessage) and m.text]
    quoted = "\n".join(f'- "{text}"' for text in said) or '- "(nothing yet)"'
    request = (
        "Continue this conversation as the same user, still wanting what you asked for. "
        f"Your messages so far:\n{quoted}"
    )
    return Task(id="conversation", kind=kind, request=request)


TURN = "collab_lookahead_turn"
"""The ``configurable`` key naming the candidate being scored: a plain string, since run
configs reach checkpoint savers and servers that serialize them."""


@dataclass(frozen=True)
class _Turn:
    """What a candidate's futures need: the forks the agent plays them in, the candidate's
    key, and the human's reply to it (when a person plays the user)."""

    forks: Forks
    key: int
    reply: str | None


class Gate(UsageLedger):
    """Counts the turn's model calls and tokens; once ``enforce``, refuses calls past the
    budget by raising :class:`BudgetExhausted` into them. A call counts from its start,
    since a cache hit is known only at its end; a hit then gives its place back."""

    raise_error = True
    run_inline = False  # raised from the concurrent handlers, after the inline ones ran

    def __init__(self, budget: Budget) -> None:
        super().__init__()
        self.budget, self.start, self.started = budget, time.monotonic(), 0
        self.enforce = self.exhausted = False

    def spent(self) -> tuple[int, int]:
        usage = self.by_role().values()
        return self.started, sum(u.input_tokens + u.output_tokens for u in usage)

    def seconds_left(self) -> float | None:
        if self.budget.seconds is None:
            return None
        return max(0.0, self.budget.seconds - (time.monotonic() - self.start))

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        _, tokens = self.spent()
        limit = self.budget
        with self._lock:  # check and count at once: concurrent calls cannot overshoot
            over = self.enforce and (
                (limit.calls is not None and self.started >= limit.calls)
                or (limit.tokens is not None and tokens >= limit.tokens)
                or self.seconds_left() == 0.0
            )
            self.started += not over
        if over:
            self.exhausted = True
            raise BudgetExhausted("the turn's lookahead budget is spent")
        super().on_chat_model_start(serialized, messages, **kwargs)

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        if is_cache_hit(response):
            with self._lock:
                self.started -= 1
        super().on_llm_end(response, **kwargs)

    async def within(self, coroutines: Sequence[Awaitable]) -> list[Any]:
        """Run ``coroutines`` concurrently: the results of those that finished, None for
        those that failed with a transient error or ran past the seconds budget and its
        grace (MR calls stop themselves at the deadline and return their finished
        futures, so the grace is only a safety net); a permanent error raises."""
        left = self.seconds_left()
        jobs = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
        done, pending = await asyncio.wait(jobs, timeout=None if left is None else left + GRACE)
        for job in pending:
            self.exhausted = True
            job.cancel()
        return [_kept(job.exception(), job) if job in done else None for job in jobs]


def _kept(error: BaseException | None, job: asyncio.Future) -> Any:
    """A finished job's result; None for a budget cut or a transient failure; raises the
    rest."""
    if error is None:
        return job.result()
    if isinstance(error, BudgetExhausted | TransientFailure | ScoringError):
        return None
    raise error


async def gather_kept(coroutines: Sequence[Awaitable]) -> list[tuple[int, Any]]:
    """``(index, result)`` of the coroutines that returned something; a permanent error
    raises at once, and when none returned anything the first error raises."""
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    for error in errors:
        if not isinstance(error, BudgetExhausted | TransientFailure | ScoringError):
            raise error
    kept = [
        (k, r) for k, r in enumerate(results) if r is not None and not isinstance(r, BaseException)
    ]
    if not kept:
        raise errors[0] if errors else ValueError("the agent gave no reply with text")
    return kept


def _to_user_turn(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The conversation up to the user's last message: what a candidate answers (the
    agent's tool calls and results of this turn stay in the forks, not in the MR)."""
    last = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
    return list(messages[: last + 1])


class Lookahead:
    """One lookahead (:class:`LookaheadOptions`), run turn by turn: :meth:`open` a turn's
    forks, sample candidates into them (the entrance's job, handing over :class:`Sampled`),
    :meth:`ask_human` when a person plays the user, :meth:`decide`, then close the forks.
    """

    def __init__(self, *, model: Any, options: LookaheadOptions) -> None:
        user, judge, budget = options.user, options.judge, options.budget
        self.options = options
        candidates = options.candidates
        self.candidates = candidates
        self.human = isinstance(user, str) and user == HUMAN
        default = model if isinstance(model, BaseChatModel | str) else None
        user = default if user is None else user
        judge = judge or (default if self.human else user)
        if user is None or judge is None:
            raise ValueError(
                "lookahead mode needs user= and judge= (chat models or specs); only a "
                "collaborative node whose agent is a chat model defaults them to it"
            )
        self.user_role = None if self.human else create_simulated_user(user)
        self.judge_role = create_judge(judge)
        # Built once, each reading its turn from the run config: the same roles every turn
        # let score_candidates reuse its compiled reward graph.
        self.agent = RunnableLambda(self._future_turn, name="agent")
        self.replying = create_simulated_user(RunnableLambda(self._human_reply, name="human"))
        self.scoring: dict[str, _Turn] = {}  # by the TURN name in each candidate's config
        self.budget = budget if isinstance(budget, Budget) else Budget(**(budget or {}))
        self.task, self.fork, self.keep_forks = options.task, options.fork, options.keep_forks
        self.max_concurrency = options.max_concurrency
        human = {"samples": 1, "window": 1}  # one future each: the person's reply
        self.reward = options.reward.with_overrides(**human) if self.human else options.reward

    def open(self, graph: Pregel, config: RunnableConfig, *, sync: bool) -> tuple:
        """``(forks, config)`` for one turn: the config counts every call in the budget."""
        forks = Forks(graph, config, fork=self.fork, gate=Gate(self.budget), sync=sync)
        if self.human and forks.saver is None:
            raise ValueError("user='human' needs a checkpointer on the graph (interrupt)")
        return forks, with_callback(config, forks.gate)

    def ask_human(self, forks: Forks, found: Sampled) -> list[str]:
        """Interrupt with the candidates (a :class:`HumanTurnRequest`); the resume value
        (a :class:`HumanTurnResponse`): one user message for each."""
        texts = [c["text"] for c in found["candidates"]]
        request = HumanTurnRequest(
            kind="collab_user_turn", instructions=HUMAN_INSTRUCTIONS, candidates=texts
        )
        try:
            answer: HumanTurnResponse = interrupt(request)
        except GraphBubbleUp:
            forks.kept = True  # the forks wait for the resume
            raise
        if isinstance(answer, Mapping):
            answer = [answer.get(str(i), answer.get(i)) for i in range(len(texts))]
        if not isinstance(answer, list | tuple) or len(answer) != len(texts):
            raise ValueError(f"Resume with one user message per candidate ({len(texts)})")
        if not all(isinstance(reply, str) and reply.strip() for reply in answer):
            raise ValueError("Each user message must be a non-empty string")
        return list(answer)

    def _turn(self, config: RunnableConfig) -> _Turn:
        return self.scoring[config["configurable"][TURN]]

    async def _future_turn(self, messages: list, config: RunnableConfig) -> dict:
        """The agent's reply in a future: played in the candidate's fork."""
        turn, s = self._turn(config), config.get("metadata", {}).get("sample_index", 0)
        return await turn.forks.turn(turn.key, s, HumanMessage(messages[-1].text), config)

    def _human_reply(self, state: dict, config: RunnableConfig) -> str | None:
        """The human's reply to the candidate, as the future's user turn."""
        return self._turn(config).reply

    def goal(self, state: dict) -> Task:
        goal = self.task(state) if callable(self.task) else self.task
        goal = goal or (state.get("task") if isinstance(state.get("task"), Task) else None)
        return goal or conversation_task(list(state["messages"]))

    async def _score(
        self,
        state: dict,
        config: RunnableConfig,
        forks: Forks,
        found: Sampled,
        replies: list | None,
    ) -> list[MultiturnReward | None]:
        history, goal = _to_user_turn(state["messages"]), self.goal(state)

        async def one(i: int, k: int, text: str) -> MultiturnReward:
            run = detached(config, metadata={"collab_candidate": k}, name=f"reward_{k}")
            name = uuid.uuid4().hex
            self.scoring[name] = _Turn(forks, k, replies[i] if replies else None)
            run["configurable"] = {**run.get("configurable", {}), TURN: name}
            try:
                rewards = await ascore_candidates(
                    history,
                    [AIMessage(text)],
                    task=goal,
                    user=self.replying if replies else self.user_role,
                    judge=self.judge_role,
                    assistant=self.agent,
                    config=run,
                    max_concurrency=self.max_concurrency,
                    timeout=forks.gate.seconds_left(),
                    options=self.reward,
                )
            finally:
                del self.scoring[name]
            return rewards[0]

        pairs = zip(found["keys"], found["candidates"], strict=True)
        jobs = [one(i, k, candidate["text"]) for i, (k, candidate) in enumerate(pairs)]
        rewards = await forks.gate.within(jobs)
        cut = (is_budget_cut(s.error) for r in rewards if r for s in r.samples)
        forks.gate.exhausted = forks.gate.exhausted or any(cut)
        return rewards

    async def decide(
        self,
        state: dict,
        config: RunnableConfig,
        forks: Forks,
        found: Sampled,
        *,
        replies: list[str] | None = None,
        score: bool = True,
    ) -> tuple[int, LookaheadTurn]:
        """Score the candidates by MR (unless ``score`` is False: the note says why) and
        choose the best (the first when none is scored): ``(index, record)``, traced as
        a ``collab_choice`` run."""
        rewards: list[MultiturnReward | None] = [None] * len(found["candidates"])
        if score:
            forks.gate.enforce = True
            rewards = await self._score(state, config, forks, found, replies)
        scores = [r.mean if r else None for r in rewards]
        ranked = [i for i, value in enumerate(scores) if value is not None]
        best = max(ranked, key=lambda i: scores[i]) if ranked else 0
        calls, tokens = forks.gate.spent()
        record: LookaheadTurn = {
            "mode": "lookahead",
            "user": HUMAN if self.human else "simulated",
            "candidates": [c["text"] for c in found["candidates"]],
            "scores": scores,
            "stderr": [r.stderr if r else None for r in rewards],
            "components": [r.components if r else {} for r in rewards],
            "n_valid": [r.n_valid if r else 0 for r in rewards],
            "n_failed": [r.n_failed if r else 0 for r in rewards],
            "n_gave_up": [r.n_gave_up if r else 0 for r in rewards],
            "rejected": [dict(r.fidelity.rejected) if r else {} for r in rewards],
            "chosen": best,
            "forks": forks.mode,
            "calls": calls,
            "tokens": tokens,
            "seconds": round(time.monotonic() - forks.gate.start, 3),
            "budget_exhausted": forks.gate.exhausted,
        }
        if replies:
            record["replies"] = replies
        if self.keep_forks:
            record["fork_threads"] = list(forks.threads)
        if not score:
            record["note"] = NO_LOOKAHEAD
        choice = RunnableLambda(lambda r: {"chosen": r["chosen"]}, name="collab_choice")
        meta = {"collab_scores": scores, "collab_chosen": best}
        await choice.ainvoke(record, detached(config, metadata=meta))
        return best, record
