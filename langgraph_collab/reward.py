"""The Multiturn-aware Reward: score a candidate reply by the conversations it leads to.

``MR(m_j) = mean over S forward samples of R*(t_{1:j} + t_f)``, each future ``t_f`` at most
``w`` turns of the conversation graph, and ``R* = sum_k weight_k * metric_k`` where the
default metrics are the task metric (R_ext), the judge's interactivity score and the token
penalty ``-min(lambda * tokens, 1)`` (R_int). Tokens are those of the window that starts at
the candidate reply: the candidate plus its futures, never the shared history (the
reference code counts the whole history and never clamps; we do neither).

The reward graph fans all candidates x S futures out at once with ``Send``; each future is a
``sample`` subgraph (``forward``: the conversation graph bounded to ``w`` turns, then
``score``: judge + metrics). A future whose roles or judge fail after their retries is
masked and counted (``n_failed``), never averaged in as zero and never raised.

Example:
    >>> from langgraph_collab import Task, multiturn_aware_reward
    >>> result = multiturn_aware_reward(
    ...     [("user", "Help me plan a trip")], "Where would you like to go?",
    ...     task=Task(request="Plan a 3-day trip to Lisbon"),
    ...     user="openai:gpt-4o-mini", assistant="openai:gpt-4o-mini",
    ...     judge="openai:gpt-4o-mini")  # doctest: +SKIP
    >>> result.mean, result.stderr, result.components  # doctest: +SKIP
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage
from langchain_core.messages.utils import convert_to_messages
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from langgraph_collab.assistant import AssistantLike
from langgraph_collab.conversation import create_conversation_graph, recursion_limit
from langgraph_collab.judge import Judgement, create_judge
from langgraph_collab.metrics import (
    Metric,
    MetricInput,
    default_metrics,
    default_token_lambda,
    resolve_metrics,
)
from langgraph_collab.metrics.tokens import TokenCounter, count_tokens
from langgraph_collab.state import Task
from langgraph_collab.tracing import RoleUsage, UsageLedger
from langgraph_collab.user import UserLike


class ForwardSample(BaseModel):
    """One simulated future of one candidate, and its score (``reward`` None if failed)."""

    candidate_index: int
    sample_index: int
    future: list[AnyMessage] = Field(default_factory=list)
    judgement: Judgement | None = None
    components: dict[str, float] = Field(default_factory=dict)
    reward: float | None = None
    error: str | None = None


class MultiturnReward(BaseModel):
    """The MR of one candidate: mean and standard error over its valid forward samples,
    the mean of each component, every sample with its conversation, and usage per role."""

    candidate: AnyMessage
    mean: float | None
    stderr: float
    components: dict[str, float]
    samples: list[ForwardSample]
    n_failed: int
    usage: dict[str, RoleUsage] = Field(default_factory=dict)

    @property
    def n_valid(self) -> int:
        return len(self.samples) - self.n_failed


class RewardState(TypedDict, total=False):
    """Input: ``messages`` (the conversation up to the user's turn), ``candidates``
    (replies to score) and ``task``. Output: ``rewards``, one per candidate, in order."""

    messages: list[AnyMessage]
    candidates: list[AnyMessage]
    task: Task
    samples: Annotated[list[ForwardSample], operator.add]
    rewards: list[MultiturnReward]


class SampleState(TypedDict, total=False):
    task: Task
    history: list[AnyMessage]
    candidate_index: int
    sample_index: int
    conversation: list[AnyMessage]
    error: str | None
    samples: Annotated[list[ForwardSample], operator.add]


class SampleOutput(TypedDict):
    samples: Annotated[list[ForwardSample], operator.add]


def weighted_components(
    sample: MetricInput,
    metrics: Mapping[str, Metric],
    *,
    weights: Mapping[str, float],
    token_lambda: float,
    counter: TokenCounter | None = None,
) -> tuple[dict[str, float], float]:
    """The components of ``R*`` for one sample and their weighted sum (eqs. 1-4).

    Components: every metric, ``tokens`` (the window's count, weight 0 unless given) and
    ``token_penalty = -min(token_lambda * tokens, 1)`` (weight 1 unless given).
    """
    components = {name: float(metric(sample)) for name, metric in metrics.items()}
    components["tokens"] = float(count_tokens(sample.window, counter=counter))
    components["token_penalty"] = -min(token_lambda * components["tokens"], 1.0)
    if not all(math.isfinite(value) for value in components.values()):
        raise ValueError(f"non-finite metric value in {components}")
    full = {name: 1.0 for name in metrics} | {"token_penalty": 1.0, "tokens": 0.0} | dict(weights)
    unknown = set(full) - set(components)
    if unknown:
        raise ValueError(
            f"Weights name unknown components {sorted(unknown)}; have {sorted(components)}"
        )
    return components, sum(full[name] * value for name, value in components.items())


def aggregate(candidate: BaseMessage, samples: Sequence[ForwardSample]) -> MultiturnReward:
    """Mean, standard error and per-component means over the valid samples."""
    valid = [s for s in samples if s.reward is not None]
    rewards = [s.reward for s in valid]
    mean = sum(rewards) / len(rewards) if rewards else None
    stderr = 0.0
    if len(rewards) > 1:
        variance = sum((r - mean) ** 2 for r in rewards) / (len(rewards) - 1)
        stderr = math.sqrt(variance / len(rewards))
    names = valid[0].components if valid else {}
    components = {name: sum(s.components[name] for s in valid) / len(valid) for name in names}
    ordered = sorted(samples, key=lambda s: s.sample_index)
    return MultiturnReward(
        candidate=candidate,
        mean=mean,
        stderr=stderr,
        components=components,
        samples=ordered,
        n_failed=len(samples) - len(valid),
    )


def as_candidate(candidate: str | BaseMessage) -> AIMessage:
    """A candidate reply as a fresh ``AIMessage``."""
    if isinstance(candidate, str):
        return AIMessage(candidate)
    if isinstance(candidate, AIMessage):
        return candidate.model_copy(update={"id": None})
    raise TypeError(f"A candidate must be a string or an AIMessage, not {type(candidate).__name__}")


def _with_metadata(config: RunnableConfig, **metadata: Any) -> RunnableConfig:
    return {**config, "metadata": {**config.get("metadata", {}), **metadata}}


def create_reward_graph(
    *,
    user: UserLike,
    assistant: AssistantLike,
    judge: Any,
    metrics: Sequence[str | Metric] | Mapping[str, str | Metric] | None = None,
    weights: Mapping[str, float] | None = None,
    samples: int = 3,
    window: int = 2,
    token_lambda: float | None = None,
    token_counter: TokenCounter | None = None,
    name: str = "multiturn_aware_reward",
) -> CompiledStateGraph:
    """Build the reward graph: every candidate x ``samples`` futures in parallel, then MR.

    Args:
        user, assistant: What plays the future turns (see :func:`create_conversation_graph`).
        judge: Anything :func:`create_judge` takes.
        metrics: Metric names or callables; default: the task kind's (see
            :func:`~langgraph_collab.metrics.default_metrics`).
        weights: Weight per component (default 1 for each metric and ``token_penalty``).
        samples: S, forward samples per candidate (paper: 3).
        window: w, future turns per sample (paper: 2); 0 scores the candidate alone.
        token_lambda: lambda of the token penalty; default: the task kind's (paper: 5e-4
            for math and code, 1e-4 for documents).
        token_counter: ``str -> int``; default tiktoken ``cl100k_base`` (offline).

    Example:
        >>> graph = create_reward_graph(user=m, assistant=m, judge=m)  # doctest: +SKIP
        >>> out = graph.invoke({"messages": history, "candidates": [a, b], "task": task})
        >>> [r.mean for r in out["rewards"]]  # doctest: +SKIP
    """
    if samples < 1 or window < 0:
        raise ValueError(
            f"need samples >= 1 and window >= 0, got samples={samples}, window={window}"
        )
    conversation = create_conversation_graph(user=user, assistant=assistant, max_turns=window)
    judge_role = create_judge(judge)
    limit = recursion_limit(window)

    def forward_input(state: SampleState) -> dict:
        return {"messages": state["history"], "task": state["task"], "turn": 0, "max_turns": window}

    def forward_output(state: SampleState, out: dict) -> dict:
        return {"conversation": out["messages"], "error": out.get("failure")}

    def sample_config(state: SampleState, config: RunnableConfig) -> RunnableConfig:
        config = _with_metadata(
            config,
            task_id=state["task"].id,
            candidate_index=state["candidate_index"],
            sample_index=state["sample_index"],
        )
        return {**config, "recursion_limit": limit}

    def forward(state: SampleState, config: RunnableConfig) -> dict:
        out = conversation.invoke(forward_input(state), sample_config(state, config))
        return forward_output(state, out)

    async def aforward(state: SampleState, config: RunnableConfig) -> dict:
        out = await conversation.ainvoke(forward_input(state), sample_config(state, config))
        return forward_output(state, out)

    def judge_input(state: SampleState) -> dict:
        return {"messages": state["conversation"], "task": state["task"]}

    def result(state: SampleState, judgement: Judgement | None, error: str | None) -> dict:
        conversation_ = state.get("conversation") or state["history"]
        future = conversation_[len(state["history"]) :]
        sample = ForwardSample(
            candidate_index=state["candidate_index"],
            sample_index=state["sample_index"],
            future=future,
            judgement=judgement,
            error=error,
        )
        if error is None:
            task = state["task"]
            chosen = resolve_metrics(metrics if metrics is not None else default_metrics(task.kind))
            lam = token_lambda if token_lambda is not None else default_token_lambda(task.kind)
            scored = MetricInput(
                task=task,
                conversation=conversation_,
                window=conversation_[len(state["history"]) - 1 :],
                judgement=judgement,
            )
            try:
                sample.components, sample.reward = weighted_components(
                    scored, chosen, weights=weights or {}, token_lambda=lam, counter=token_counter
                )
            except Exception as metric_error:
                sample.error = f"metric: {type(metric_error).__name__}: {metric_error}"
        return {"samples": [sample]}

    def score(state: SampleState, config: RunnableConfig) -> dict:
        if state.get("error"):
            return result(state, None, state["error"])
        try:
            return result(
                state, judge_role.invoke(judge_input(state), sample_config(state, config)), None
            )
        except Exception as error:
            return result(state, None, f"judge: {type(error).__name__}: {error}")

    async def ascore(state: SampleState, config: RunnableConfig) -> dict:
        if state.get("error"):
            return result(state, None, state["error"])
        try:
            return result(
                state,
                await judge_role.ainvoke(judge_input(state), sample_config(state, config)),
                None,
            )
        except Exception as error:
            return result(state, None, f"judge: {type(error).__name__}: {error}")

    sample_graph = StateGraph(SampleState, output_schema=SampleOutput)
    sample_graph.add_node("forward", RunnableLambda(forward, afunc=aforward, name="forward"))
    sample_graph.add_node("score", RunnableLambda(score, afunc=ascore, name="score"))
    sample_graph.add_edge(START, "forward")
    sample_graph.add_edge("forward", "score")
    sample_graph.add_edge("score", END)

    def fan_out(state: RewardState) -> list[Send]:
        history = list(convert_to_messages(state.get("messages") or []))
        if not history or not isinstance(history[-1], HumanMessage):
            raise ValueError("The conversation to score must end with the user's message")
        if not state.get("candidates"):
            raise ValueError("Give at least one candidate reply to score")
        if not isinstance(state.get("task"), Task):
            raise ValueError("The reward graph needs a `task` (a langgraph_collab.Task)")
        return [
            Send(
                "sample",
                {
                    "task": state["task"],
                    "history": [*history, as_candidate(candidate)],
                    "candidate_index": k,
                    "sample_index": s,
                },
            )
            for k, candidate in enumerate(state["candidates"])
            for s in range(samples)
        ]

    def collect(state: RewardState) -> dict:
        by_candidate = [
            aggregate(
                as_candidate(candidate), [s for s in state["samples"] if s.candidate_index == k]
            )
            for k, candidate in enumerate(state["candidates"])
        ]
        return {"rewards": by_candidate}

    builder = StateGraph(RewardState)
    builder.add_node("sample", sample_graph.compile(name="forward_sample"))
    builder.add_node("aggregate", collect)
    builder.add_conditional_edges(START, fan_out, ["sample"])
    builder.add_edge("sample", "aggregate")
    builder.add_edge("aggregate", END)
    return builder.compile(name=name)


def _inputs(
    conversation: Sequence[Any], candidates: Sequence[str | BaseMessage], task: Task
) -> dict:
    return {"messages": list(conversation), "candidates": list(candidates), "task": task}


def _run_config(
    ledger: UsageLedger, max_concurrency: int | None, config: RunnableConfig | None
) -> RunnableConfig:
    config = dict(config or {})
    config["callbacks"] = [*(config.get("callbacks") or []), ledger]
    if max_concurrency is not None:
        config["max_concurrency"] = max_concurrency
    return config


def _with_usage(rewards: list[MultiturnReward], ledger: UsageLedger) -> list[MultiturnReward]:
    for k, reward in enumerate(rewards):
        reward.usage = ledger.by_role(candidate_index=k)
    return rewards


def score_candidates(
    conversation: Sequence[Any],
    candidates: Sequence[str | BaseMessage],
    *,
    task: Task,
    user: UserLike,
    assistant: AssistantLike,
    judge: Any,
    max_concurrency: int | None = None,
    config: RunnableConfig | None = None,
    **options: Any,
) -> list[MultiturnReward]:
    """MR of each candidate reply to ``conversation`` (all futures run in parallel).

    ``options`` are those of :func:`create_reward_graph` (``metrics``, ``weights``,
    ``samples``, ``window``, ``token_lambda``, ``token_counter``). ``max_concurrency``
    caps the futures in flight.

    Example:
        >>> a, b = score_candidates(history, ["Answer now", "Ask first?"], task=task,
        ...                         user=m, assistant=m, judge=m)  # doctest: +SKIP
    """
    graph = create_reward_graph(user=user, assistant=assistant, judge=judge, **options)
    ledger = UsageLedger()
    out = graph.invoke(
        _inputs(conversation, candidates, task), _run_config(ledger, max_concurrency, config)
    )
    return _with_usage(out["rewards"], ledger)


async def ascore_candidates(
    conversation: Sequence[Any],
    candidates: Sequence[str | BaseMessage],
    *,
    task: Task,
    user: UserLike,
    assistant: AssistantLike,
    judge: Any,
    max_concurrency: int | None = None,
    config: RunnableConfig | None = None,
    **options: Any,
) -> list[MultiturnReward]:
    """Async :func:`score_candidates`."""
    graph = create_reward_graph(user=user, assistant=assistant, judge=judge, **options)
    ledger = UsageLedger()
    out = await graph.ainvoke(
        _inputs(conversation, candidates, task), _run_config(ledger, max_concurrency, config)
    )
    return _with_usage(out["rewards"], ledger)


def multiturn_aware_reward(
    conversation: Sequence[Any], candidate: str | BaseMessage, **options: Any
) -> MultiturnReward:
    """MR of one candidate reply; keyword options as :func:`score_candidates`
    (``task``, ``user``, ``assistant``, ``judge``, ``samples=3``, ``window=2``, ...)."""
    return score_candidates(conversation, [candidate], **options)[0]


async def amultiturn_aware_reward(
    conversation: Sequence[Any], candidate: str | BaseMessage, **options: Any
) -> MultiturnReward:
    """Async :func:`multiturn_aware_reward`."""
    return (await ascore_candidates(conversation, [candidate], **options))[0]
