"""Score candidate replies by their MR: the reward graph run once, its futures in parallel.

:func:`score_candidates` is the one entry point (async: :func:`ascore_candidates`);
:func:`multiturn_aware_reward` scores a single reply. The graph is compiled once per
distinct roles and :class:`~langgraph_collab.reward.options.RewardOptions` and reused.

Example:
    >>> from langgraph_collab import Task
    >>> rewards = score_candidates(
    ...     [("user", "What is 2+2?")], ["4", "Do you mean in base 10?"],
    ...     task=Task(request="What is 2+2?"),
    ...     user=lambda state: "Thanks! [[TERMINATE CHAT]]",
    ...     assistant=lambda messages: "4",
    ...     judge=lambda state: {"artifact": "4", "grade": "A"},
    ...     samples=2, window=1)
    >>> [r.n_valid for r in rewards]
    [2, 2]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from langgraph_collab._runtime.graph_cache import cached_graph, value_key
from langgraph_collab.options_check import raise_problems
from langgraph_collab.reward.graph import DEADLINE, check_candidates, create_reward_graph
from langgraph_collab.reward.options import RewardOptions, run_problems
from langgraph_collab.reward.scoring import MultiturnReward
from langgraph_collab.roles.assistant import AssistantLike
from langgraph_collab.roles.judge import JudgeLike
from langgraph_collab.roles.user import UserLike
from langgraph_collab.state import Task
from langgraph_collab.tracing import UsageLedger, tracing_guard, with_callback


def reward_graph(
    *, user: UserLike, assistant: AssistantLike, judge: JudgeLike, options: RewardOptions
) -> CompiledStateGraph:
    """:func:`create_reward_graph` for these roles and options, compiled once and reused
    (keyed by the options' value and the roles' identity).

    Example:
        >>> roles = {"user": lambda state: "Thanks! [[TERMINATE CHAT]]",
        ...          "assistant": lambda messages: "4",
        ...          "judge": lambda state: {"artifact": "4", "grade": "A"}}
        >>> one = reward_graph(**roles, options=RewardOptions(samples=2))
        >>> one is reward_graph(**roles, options=RewardOptions(samples=2))
        True
    """
    roles = (user, assistant, judge)
    key = ("reward", value_key(roles), options.key())
    return cached_graph(
        key,
        lambda: create_reward_graph(user=user, assistant=assistant, judge=judge, options=options),
        keep=(*roles, options),
    )


def _prepared(
    conversation: Sequence[Any],
    candidates: Sequence[str | BaseMessage],
    task: Task,
    roles: tuple[UserLike, AssistantLike, JudgeLike],
    options: RewardOptions | None,
    overrides: dict[str, Any],
    run: dict[str, Any],
) -> tuple[CompiledStateGraph, dict, RewardOptions]:
    """What one MR call runs: the checked options, the graph they compile to, the graph's
    input; ``run`` (``max_concurrency``, ``timeout``) checked too."""
    options = RewardOptions.of(options, **overrides)
    user, assistant, judge = roles
    graph = reward_graph(user=user, assistant=assistant, judge=judge, options=options)
    inputs = _inputs(conversation, candidates, task)
    raise_problems(run_problems(**run))
    return graph, inputs, options


def _inputs(
    conversation: Sequence[Any], candidates: Sequence[str | BaseMessage], task: Task
) -> dict:
    check_candidates(candidates)
    if isinstance(conversation, str | BaseMessage):
        raise TypeError(
            "`conversation` must be a list of messages, e.g. [('user', 'Hi')], not one "
            f"{type(conversation).__name__}"
        )
    if not isinstance(task, Task):
        raise TypeError(f"`task` must be a langgraph_collab.Task, not {type(task).__name__}")
    return {"messages": list(conversation), "candidates": list(candidates), "task": task}


def _run_config(
    ledger: UsageLedger,
    max_concurrency: int | None,
    config: RunnableConfig | None,
    timeout: float | None,
) -> RunnableConfig:
    config = with_callback(config, ledger)
    if max_concurrency is not None:
        config["max_concurrency"] = max_concurrency
    if timeout is not None:
        deadline = time.monotonic() + timeout
        config["configurable"] = {**config.get("configurable", {}), DEADLINE: deadline}
    return config


def _with_usage(rewards: list[MultiturnReward], ledger: UsageLedger) -> list[MultiturnReward]:
    for k, reward in enumerate(rewards):
        reward.usage = ledger.by_role(group=k)
    return rewards


def score_candidates(
    conversation: Sequence[Any],
    candidates: Sequence[str | BaseMessage],
    *,
    task: Task,
    user: UserLike,
    assistant: AssistantLike,
    judge: JudgeLike,
    options: RewardOptions | None = None,
    timeout: float | None = None,
    max_concurrency: int | None = None,
    config: RunnableConfig | None = None,
    **overrides: Any,
) -> list[MultiturnReward]:
    """MR of each candidate reply to ``conversation`` (all futures run in parallel).

    ``options`` are the MR settings (:class:`~langgraph_collab.reward.options.RewardOptions`;
    keywords naming its fields override it: ``samples=2``). ``max_concurrency`` caps the
    futures in flight and ``config`` is the run's base config (callbacks, tags, metadata).
    ``timeout`` (seconds) is a deadline for the whole call: no future starts after it,
    and with the async API the futures still running are abandoned; either way they are
    masked as budget cuts and each MR is the mean of its finished futures (``n_valid``;
    ``mean`` None only when none finished). The futures that finish first are the short
    conversations, so an MR whose futures were cut is biased toward them.

    Example:
        >>> a, b = score_candidates(history, ["Answer now", "Ask first?"], task=task,
        ...                         user=m, assistant=m, judge=m)  # doctest: +SKIP
    """
    run = {"max_concurrency": max_concurrency, "timeout": timeout}
    graph, inputs, options = _prepared(
        conversation, candidates, task, (user, assistant, judge), options, overrides, run
    )
    # Sync runs fan out on a thread pool, sized by max_concurrency: let every future run.
    threads = max_concurrency or max(1, len(inputs["candidates"]) * options.samples)
    ledger = UsageLedger()
    with tracing_guard():
        out = graph.invoke(inputs, _run_config(ledger, threads, config, timeout))
    return _with_usage(out["rewards"], ledger)


async def ascore_candidates(
    conversation: Sequence[Any],
    candidates: Sequence[str | BaseMessage],
    *,
    task: Task,
    user: UserLike,
    assistant: AssistantLike,
    judge: JudgeLike,
    options: RewardOptions | None = None,
    timeout: float | None = None,
    max_concurrency: int | None = None,
    config: RunnableConfig | None = None,
    **overrides: Any,
) -> list[MultiturnReward]:
    """Async :func:`score_candidates`; with ``timeout``, futures still running at the
    deadline are abandoned (masked), not awaited.

    Example:
        >>> import asyncio
        >>> from langgraph_collab import Task
        >>> rewards = asyncio.run(ascore_candidates(
        ...     [("user", "What is 2+2?")], ["4", "Do you mean in base 10?"],
        ...     task=Task(request="What is 2+2?"),
        ...     user=lambda state: "Thanks! [[TERMINATE CHAT]]",
        ...     assistant=lambda messages: "4",
        ...     judge=lambda state: {"artifact": "4", "grade": "A"},
        ...     options=RewardOptions(samples=2, window=1), timeout=60))
        >>> [r.n_valid for r in rewards]
        [2, 2]
    """
    run = {"max_concurrency": max_concurrency, "timeout": timeout}
    graph, inputs, _ = _prepared(
        conversation, candidates, task, (user, assistant, judge), options, overrides, run
    )
    ledger = UsageLedger()
    with tracing_guard():
        out = await graph.ainvoke(inputs, _run_config(ledger, max_concurrency, config, timeout))
    return _with_usage(out["rewards"], ledger)


def multiturn_aware_reward(
    conversation: Sequence[Any], candidate: str | BaseMessage, **kwargs: Any
) -> MultiturnReward:
    """MR of one candidate reply: :func:`score_candidates` of ``[candidate]``.

    Example:
        >>> mr = multiturn_aware_reward([("user", "Hi")], "Hello! What do you need?",
        ...                             task=task, user=m, assistant=m, judge=m)  # doctest: +SKIP
    """
    return score_candidates(conversation, [candidate], **kwargs)[0]


async def amultiturn_aware_reward(
    conversation: Sequence[Any], candidate: str | BaseMessage, **kwargs: Any
) -> MultiturnReward:
    """Async :func:`multiturn_aware_reward`.

    Example:
        >>> import asyncio
        >>> from langgraph_collab import Task
        >>> mr = asyncio.run(amultiturn_aware_reward(
        ...     [("user", "Hi")], "Hello! What do you need?", task=Task(request="Say hi."),
        ...     user=lambda state: "Nothing, bye [[TERMINATE CHAT]]",
        ...     assistant=lambda messages: "Bye!",
        ...     judge=lambda state: {"artifact": "", "grade": "B"}, samples=1, window=1))
        >>> mr.n_valid, mr.components["interactivity"]
        (1, 0.5)
    """
    return (await ascore_candidates(conversation, [candidate], **kwargs))[0]


__all__ = [
    "amultiturn_aware_reward",
    "ascore_candidates",
    "multiturn_aware_reward",
    "reward_graph",
    "score_candidates",
]
