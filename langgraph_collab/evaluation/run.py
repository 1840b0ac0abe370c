"""Evaluation: the paper's metrics over full simulated conversations on held-out tasks.

Each assistant (base, "Proactive Base", trained...) talks with the simulated user through a
whole conversation per task; the judge reads it once. Per conversation: the task kind's metric,
tokens (k, ``cl100k_base``), interactivity (ITR on the paper's scale, and 0..1), and for tasks
marked ``metadata["ambiguous"]`` whether the first reply asked for clarification. Failed
conversations are counted, never scored as zero. The report: mean, standard error and n per
model, kind and metric; a table shaped like the paper's Table 1, a JSON file and a PNG plot.

Example:
    >>> from langgraph_collab import load_chat_model
    >>> from langgraph_collab import evaluate
    >>> from langgraph_collab.evaluation.run import baseline_assistants
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
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from tqdm.auto import tqdm

from langgraph_collab._runtime.sync import run_sync
from langgraph_collab.errors import TransientFailure
from langgraph_collab.evaluation.report import (
    ConversationResult,
    EvaluationReport,
)
from langgraph_collab.options_check import flag, function, raise_problems, whole
from langgraph_collab.reward.conversation import (
    DEFAULT_MAX_TURNS,
    create_conversation_graph,
    recursion_limit,
)
from langgraph_collab.reward.fidelity import FidelityGuard
from langgraph_collab.reward.metrics import Metric, MetricError, MetricInput, resolve_metrics
from langgraph_collab.reward.metrics.clarification import asks_for_clarification
from langgraph_collab.reward.metrics.tokens import TokenCounter, count_tokens
from langgraph_collab.reward.options import task_problems
from langgraph_collab.reward.scoring import measure
from langgraph_collab.roles.assistant import AssistantLike, create_assistant
from langgraph_collab.roles.judge import JudgeLike, create_judge, paper_itr
from langgraph_collab.roles.role import describe_model
from langgraph_collab.roles.user import UserLike, create_simulated_user
from langgraph_collab.state import FidelityCounts, Task, to_dicts
from langgraph_collab.tasks.kinds import task_kind
from langgraph_collab.tracing import tracing_guard


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
    """Async :func:`evaluate`.

    Example:
        >>> import asyncio
        >>> from langgraph_collab import Task
        >>> report = asyncio.run(aevaluate(
        ...     [Task(id="t1", request="Say hi.")], assistants={"base": lambda m: "Hi!"},
        ...     user=lambda s: "Bye [[TERMINATE CHAT]]" if s["messages"] else "Hello",
        ...     judge=lambda state: {"artifact": "Hi!", "grade": "B"}, progress=False))
        >>> report.n_failed, report.stat("base", "chat", "interactivity").mean
        (0, 0.5)
    """
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
            :func:`~langgraph_collab.reward.fidelity.create_fidelity_guard`, False: none); its
            counts, the stop reasons and mean turns per model are in ``report.fidelity``.
        grounded_stop: End a conversation when the task's goal is met (see
            :mod:`langgraph_collab.reward.stopping`), not only on the user's stop token.

    Works from sync code and inside a running event loop (Jupyter); async code can
    await :func:`aevaluate`.

    Example:
        >>> from langgraph_collab import Task
        >>> def judge(state):  # the artifact: the assistant's last reply
        ...     said = [m.content for m in state["messages"] if m.type == "ai"]
        ...     return {"artifact": said[-1], "grade": "A"}
        >>> report = evaluate(
        ...     [Task(id="t1", kind="math", request="What is 2+2?", reference="4")],
        ...     assistants={"answers": lambda m: "It is 4.", "asks": lambda m: "In base 10?"},
        ...     user=lambda s: "Yes. [[TERMINATE CHAT]]" if s["messages"] else "2+2?",
        ...     judge=judge, max_turns=2, progress=False)
        >>> [report.stat(model, "math", "accuracy").mean for model in ("answers", "asks")]
        [1.0, 0.0]
        >>> report.fidelity["answers"].stop_reasons  # the right answer ends the chat
        {'goal_met': 1}
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
