"""The reward graph: score candidate replies by the conversations they lead to.

``MR(m_j) = mean over S forward samples of R*(t_{1:j} + t_f)``, each future ``t_f`` at most
``w`` turns of the conversation graph, and ``R* = sum_k weight_k * metric_k`` where the
default metrics are the task metric (R_ext), the judge's interactivity score and the token
penalty ``-min(lambda * tokens, 1)`` (R_int). Tokens are those of the window that starts at
the candidate reply: the candidate plus its futures, never the shared history (the
reference code counts the whole history and never clamps; we do neither).

The reward graph fans all candidates x S futures out at once with ``Send`` (a candidate
whose text repeats an earlier one's shares its futures and MR); each future is one
``sample`` step: the conversation's turns bounded to ``w`` (a plain loop, or the
conversation graph as a subgraph with ``subgraph=True``), then the judge and metrics.
A future whose roles or judge fail with a transient error that outlives their retries, or
whose metric raises ``MetricError``, is masked and counted (``n_failed``), never averaged
in as zero. A permanent error (a wrong API key, a bug in a
callable or metric) raises at once (:class:`~langgraph_collab.errors.PermanentError`), and
when every sample fails or one failure keeps repeating the call raises
:class:`~langgraph_collab.errors.ScoringError` listing the distinct errors.

With ``adaptive=`` (:class:`~langgraph_collab.reward.adaptive.AdaptiveSampling`) the futures are
drawn in rounds and a candidate stops getting more once the choice is clear (each MR is
then the mean of the futures its candidate got, with its n: a sequential decision). With
``timeout=`` (async), futures still running at the deadline are abandoned and masked as
budget cuts; the finished ones make a partial MR (its n in ``n_valid``), biased toward
short conversations, since those finish first.

Example:
    >>> from langgraph_collab import Task
    >>> from langgraph_collab.reward.score import multiturn_aware_reward
    >>> result = multiturn_aware_reward(
    ...     [("user", "Help me plan a trip")], "Where would you like to go?",
    ...     task=Task(request="Plan a 3-day trip to Lisbon"),
    ...     user="openai:gpt-4o-mini", assistant="openai:gpt-4o-mini",
    ...     judge="openai:gpt-4o-mini")  # doctest: +SKIP
    >>> result.mean, result.stderr, result.components  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import operator
import time
from collections.abc import Sequence
from typing import Annotated, Any

from langchain_core.messages import AnyMessage, BaseMessage, HumanMessage
from langchain_core.messages.utils import convert_to_messages
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send
from typing_extensions import TypedDict

from langgraph_collab._runtime.stagger import in_turn
from langgraph_collab._runtime.traced import Step
from langgraph_collab.errors import (
    BudgetExhausted,
    TransientFailure,
    check_failures,
    cut_by_budget,
    is_budget_cut,
)
from langgraph_collab.options_check import raise_problems
from langgraph_collab.reward.conversation import create_conversation_turns, recursion_limit
from langgraph_collab.reward.fidelity import gave_up
from langgraph_collab.reward.options import RewardOptions, task_problems
from langgraph_collab.reward.scoring import (
    ForwardSample,
    MultiturnReward,
    aggregate,
    as_candidate,
    reward_weights,
    score_sample,
)
from langgraph_collab.roles.assistant import AssistantLike
from langgraph_collab.roles.judge import JudgeLike, Judgement, create_judge
from langgraph_collab.roles.user import UserLike
from langgraph_collab.state import Task


class RewardState(TypedDict, total=False):
    """Input: ``messages`` (the conversation up to the user's turn), ``candidates``
    (replies to score) and ``task``. Output: ``rewards``, one per candidate, in order.
    ``samples`` collects the forward samples the fan-out sends back (its reducer adds them).

    Example:
        >>> from langgraph_collab import Task
        >>> state: RewardState = {"messages": [("user", "2+2?")], "task": Task(request="2+2?"),
        ...                       "candidates": ["4", "In base 10?"]}
        >>> sorted(state)
        ['candidates', 'messages', 'task']
    """

    messages: list[AnyMessage]
    candidates: list[AnyMessage]
    task: Task
    samples: Annotated[list[ForwardSample], operator.add]
    rewards: list[MultiturnReward]


DEADLINE = "collab_mr_deadline"
"""The ``configurable`` key holding a run's deadline (``time.monotonic()`` seconds)."""


class SampleInput(TypedDict):
    """What ``Send`` hands one forward sample: the task, the conversation up to and with
    its candidate reply (``history``), and which candidate and sample it is.

    Example:
        >>> from langgraph_collab import Task
        >>> SampleInput(task=Task(request="2+2?"), history=[], candidate_index=1,
        ...             sample_index=0)["candidate_index"]
        1
    """

    task: Task
    history: list[AnyMessage]
    candidate_index: int
    sample_index: int


def first_of(candidates: Sequence[str | BaseMessage]) -> list[int]:
    """For each candidate, the index of the first candidate with the same text: identical
    replies share one set of forward samples (and one MR).

    Example:
        >>> first_of(["Ask?", "Answer.", "Ask?"])
        [0, 1, 0]
    """
    seen: dict[str, int] = {}
    return [seen.setdefault(as_candidate(c).text, k) for k, c in enumerate(candidates)]


def _with_metadata(config: RunnableConfig, **metadata: Any) -> RunnableConfig:
    return {**config, "metadata": {**config.get("metadata", {}), **metadata}}


def create_reward_graph(
    *,
    user: UserLike,
    assistant: AssistantLike,
    judge: JudgeLike,
    options: RewardOptions | None = None,
    subgraph: bool = False,
    name: str = "multiturn_aware_reward",
    checkpointer: bool | None = None,
    **overrides: Any,
) -> CompiledStateGraph:
    """Build the reward graph: every candidate x ``samples`` futures in parallel, then MR.

    Args:
        user, assistant: What plays the future turns (see :func:`create_conversation_graph`).
        judge: Anything :func:`create_judge` takes.
        options: The MR settings (:class:`~langgraph_collab.reward.options.RewardOptions`);
            keyword arguments naming one of its fields (``samples=2``) override it.
        subgraph: Run each future as the conversation graph, a subgraph: every turn is a
            super-step, checkpointed with the parent's saver and streamed with
            ``subgraphs=True``. False (default): the same turns as a plain loop inside the
            future's ``sample`` step (:meth:`~langgraph_collab.reward.conversation.Turns.run`):
            in the trace each ``sample`` run holds its turns' runs and the judge's (no
            ``conversation`` run between), a finished future is still checkpointed
            whole, and each future costs less CPU
            (``benchmarks/framework_cost.py``).
        checkpointer: As a subgraph, None inherits the parent graph's checkpointer (each
            finished forward sample is saved and survives a kill; with ``subgraph``, each
            of its turns too); False checkpoints none of them (a resumed parent redoes the
            whole step, failed samples included, with far fewer writes).

    Example:
        >>> from langgraph_collab import Task
        >>> graph = create_reward_graph(
        ...     user=lambda state: "Thanks! [[TERMINATE CHAT]]",
        ...     assistant=lambda messages: "4",
        ...     judge=lambda state: {"artifact": "4", "grade": "A"},
        ...     samples=2, window=1)
        >>> out = graph.invoke({"messages": [("user", "What is 2+2?")],
        ...                     "candidates": ["4", "Do you mean in base 10?"],
        ...                     "task": Task(request="What is 2+2?")})
        >>> [(r.n_valid, r.stop_reasons) for r in out["rewards"]]
        [(2, {'user': 2}), (2, {'user': 2})]
    """
    options = RewardOptions.of(options, **overrides)
    window = options.window
    turns = create_conversation_turns(
        user=user,
        assistant=assistant,
        max_turns=window,
        fidelity=options.fidelity,
        grounded_stop=options.grounded_stop,
    )
    forward, aforward = turns.run, turns.arun
    if subgraph:
        conversation = turns.graph()
        if checkpointer is False:  # the futures would still find the parent's saver
            conversation = conversation.copy(update={"checkpointer": False})
        forward, aforward = conversation.invoke, conversation.ainvoke
    judge_role = create_judge(judge)
    limit = recursion_limit(window)

    def sample_config(state: SampleInput, config: RunnableConfig) -> RunnableConfig:
        config = _with_metadata(
            config,
            task_id=state["task"].id,
            candidate_index=state["candidate_index"],
            sample_index=state["sample_index"],
        )
        return {**config, "recursion_limit": limit}

    def forward_input(state: SampleInput) -> dict:
        return {"messages": state["history"], "task": state["task"], "turn": 0, "max_turns": window}

    def finish(state: SampleInput, out: dict, judgement: Judgement | None, error: str | None):
        task = state["task"]
        chosen = options.metrics_for(task)
        sample = score_sample(
            task,
            out["messages"],
            start=len(state["history"]) - 1,
            candidate_index=state["candidate_index"],
            sample_index=state["sample_index"],
            judgement=judgement,
            error=error,
            stop_reason=out.get("stop_reason"),
            fidelity=out.get("fidelity"),
            metrics=chosen,
            weights=options.weights_for(task, list(chosen)),
            token_lambda=options.lambda_for(task),
            counter=options.token_counter,
        )
        return {"samples": [sample]}

    def cut(state: SampleInput) -> dict:
        out = {"messages": state["history"], "stop_reason": "failure"}
        return finish(state, out, None, cut_by_budget(BudgetExhausted("the deadline passed")))

    def sample(state: SampleInput, config: RunnableConfig) -> dict:
        if _seconds_left(config) == 0.0:
            return cut(state)  # a sync future cannot be abandoned: none starts late
        config = sample_config(state, config)
        out = forward(forward_input(state), config)
        if out.get("failure"):
            return finish(state, out, None, out["failure"])
        try:
            judgement = judge_role.invoke(
                {"messages": out["messages"], "task": state["task"]}, config
            )
        except TransientFailure as error:
            return finish(state, out, None, str(error))
        except BudgetExhausted as error:
            return finish(state, out, None, cut_by_budget(error))
        return finish(state, out, judgement, None)

    async def asample(state: SampleInput, config: RunnableConfig) -> dict:
        left = _seconds_left(config)
        try:
            return await asyncio.wait_for(afuture(state, config), left)
        except (TimeoutError, asyncio.TimeoutError):  # one class from 3.11, two on 3.10
            return cut(state)  # abandoned at the deadline: masked, the others kept

    async def afuture(state: SampleInput, config: RunnableConfig) -> dict:
        async with in_turn(sample_config(state, config)) as config:  # start-up in turn
            return await ajudged(state, config)

    async def ajudged(state: SampleInput, config: RunnableConfig) -> dict:
        out = await aforward(forward_input(state), config)
        if out.get("failure"):
            return finish(state, out, None, out["failure"])
        try:
            judged = {"messages": out["messages"], "task": state["task"]}
            judgement = await judge_role.ainvoke(judged, config)
        except TransientFailure as error:
            return finish(state, out, None, str(error))
        except BudgetExhausted as error:
            return finish(state, out, None, cut_by_budget(error))
        # Metrics may block (a sandboxed test run, sympy): keep them off the event loop.
        return await asyncio.to_thread(finish, state, out, judgement, None)

    def send(state: RewardState, k: int, s: int) -> Send:
        history = list(convert_to_messages(state["messages"]))
        candidate = as_candidate(state["candidates"][k])
        return Send(
            "sample",
            {"task": state["task"], "history": [*history, candidate],
             "candidate_index": k, "sample_index": s},
        )  # fmt: skip

    def fan_out(state: RewardState) -> list[Send]:
        history = list(convert_to_messages(state.get("messages") or []))
        if not history or not isinstance(history[-1], HumanMessage):
            raise ValueError("The conversation to score must end with the user's message")
        candidates = state.get("candidates")
        check_candidates(candidates)
        if not candidates:
            raise ValueError("Give at least one candidate reply to score")
        if not isinstance(state.get("task"), Task):
            raise ValueError("The reward graph needs a `task` (a langgraph_collab.Task)")
        task = state["task"]
        raise_problems(task_problems([task], metrics=options.metrics, weights=options.weights))
        names = list(options.metrics_for(task))
        reward_weights(names, options.weights_for(task, names))
        first = first_of(candidates)
        adaptive, samples = options.adaptive, options.samples
        opening = min(adaptive.first, samples) if adaptive else samples
        return [
            send(state, k, s)
            for k in range(len(candidates))
            if first[k] == k  # an identical text is scored once
            for s in range(opening)
        ]

    def more(state: RewardState) -> list[Send] | str:
        """The next round of futures for the candidates still open, or aggregate (wired
        only with ``adaptive``)."""
        unique = sorted(set(first_of(state["candidates"])))
        drawn = {k: [s for s in state["samples"] if s.candidate_index == k] for k in unique}
        is_open = options.adaptive.open(
            [[s.reward for s in drawn[k] if s.reward is not None] for k in unique],
            attempted=[len(drawn[k]) for k in unique],
            samples=options.samples,
        )
        sends = [send(state, k, len(drawn[k])) for k, go in zip(unique, is_open, strict=True) if go]
        return sends or "aggregate"

    def aggregate_all(state: RewardState) -> dict:
        # Budget cuts and futures whose simulated user kept failing the fidelity guard are
        # masked and reported, but say nothing about the infrastructure.
        errors = [s.error for s in state["samples"]]
        check_failures(
            "MR forward samples", [e for e in errors if not is_budget_cut(e) and not gave_up(e)]
        )
        first = first_of(state["candidates"])
        by_candidate = [
            aggregate(
                as_candidate(candidate),
                [s for s in state["samples"] if s.candidate_index == first[k]],
            )
            for k, candidate in enumerate(state["candidates"])
        ]
        return {"rewards": by_candidate}

    builder = StateGraph(RewardState)
    builder.add_node("sample", Step(sample, asample, name="sample", trace=False))
    builder.add_node("aggregate", aggregate_all)
    builder.add_conditional_edges(START, fan_out, ["sample"])
    if options.adaptive is None:
        builder.add_edge("sample", "aggregate")
    else:  # a step between rounds: another round of futures, or aggregate
        builder.add_node("decide", lambda state: {})
        builder.add_edge("sample", "decide")
        builder.add_conditional_edges("decide", more, ["sample", "aggregate"])
    builder.add_edge("aggregate", END)
    return builder.compile(name=name, checkpointer=checkpointer)


def _seconds_left(config: RunnableConfig) -> float | None:
    """Seconds to the run's deadline (0.0 once passed); None without one."""
    deadline = config.get("configurable", {}).get(DEADLINE)
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def check_candidates(candidates: Any) -> None:
    """One reply where a list of replies belongs would be scored letter by letter: refuse.

    Example:
        >>> check_candidates(["Ask first?", "Answer now."])
        >>> check_candidates("Answer now.")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: `candidates` must be a list of replies, not one str: ...
    """
    if isinstance(candidates, str | BaseMessage):
        raise TypeError(
            f"`candidates` must be a list of replies, not one {type(candidates).__name__}: "
            "write [reply] to score a single reply (or use multiturn_aware_reward)"
        )
