"""Collection: turn MR into training data, one durable LangGraph thread per task.

Per task, the simulated user opens; at every assistant turn N candidate replies are sampled
(a share of them with the proactive prompt, as in the paper), each is scored by MR, the
conversation continues with the best, and the next user message comes from the winner's
best forward sample. It stops on ``[[TERMINATE CHAT]]`` or the message budget (14). Every
candidate's MR, components and forward samples, and the chosen index, are recorded.

The graph runs under a SQLite checkpointer, one thread per task: a run killed at any moment
and started again with the same arguments resumes where it stopped (finished turns and
finished forward samples are not recomputed), and each conversation is appended to
``records.jsonl`` once, in one write.

Example:
    >>> from langgraph_collab.collect import collect
    >>> from langgraph_collab.tasks import load_tasks
    >>> summary = collect(load_tasks("math", limit=2), user="local", assistant="local",
    ...                   judge="local", out_dir="runs/demo")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import operator
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langsmith.run_helpers import get_current_run_tree
from pydantic import BaseModel
from tqdm.auto import tqdm
from typing_extensions import TypedDict

from langgraph_collab.assistant import AssistantLike, create_assistant
from langgraph_collab.judge import Judgement
from langgraph_collab.records import (
    CandidateRecord,
    ConversationRecord,
    SampleRecord,
    TurnRecord,
    append_record,
    recorded_task_ids,
    to_dicts,
)
from langgraph_collab.reward import create_reward_graph
from langgraph_collab.scoring import ForwardSample, MultiturnReward
from langgraph_collab.state import Task
from langgraph_collab.tracing import (
    CallGate,
    FeedbackSender,
    RoleUsage,
    UsageLedger,
    tracing_guard,
)
from langgraph_collab.user import UserLike, create_simulated_user, is_terminal

DEFAULT_MAX_MESSAGES = 14


class CollectState(TypedDict, total=False):
    """One task's collection thread: the chosen path, the turn records, the candidates
    awaiting their scores, and the stop flags."""

    task: Task
    messages: Annotated[list[AnyMessage], add_messages]
    candidates: list[CandidateRecord]
    turns: Annotated[list[TurnRecord], operator.add]
    done: bool
    failure: str | None
    record: ConversationRecord


def choose(rewards: Sequence[MultiturnReward]) -> int:
    """Index of the candidate with the highest MR (candidates without one rank last)."""
    return max(
        range(len(rewards)), key=lambda k: (rewards[k].mean is not None, rewards[k].mean or 0)
    )


def next_user_message(reward: MultiturnReward) -> HumanMessage | None:
    """The user's reply in the winner's best valid forward sample, if it has one."""
    valid = sorted((s for s in reward.samples if s.reward is not None), key=lambda s: -s.reward)
    for sample in valid:
        if sample.future and isinstance(sample.future[0], HumanMessage):
            return HumanMessage(sample.future[0].text)
    return None


def create_collection_graph(
    *,
    user: UserLike,
    assistant: AssistantLike,
    judge: Any,
    candidates: int = 3,
    proactive_share: float = 0.5,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    records: str | Path | None = None,
    ledger: UsageLedger | None = None,
    **reward_options: Any,
) -> StateGraph:
    """Build (uncompiled) the per-task collection graph: ``simulated_user -> propose ->
    choose -> ... -> record``. ``record`` puts the :class:`ConversationRecord` in state and,
    with ``records``, appends it to that JSONL file (``ledger``, grouped by ``task_id``,
    fills its usage). ``reward_options`` go to :func:`create_reward_graph` (``samples``,
    ``window``, ``metrics``, ``weights``, ``token_lambda``). Compile it with a checkpointer.

    Example:
        >>> graph = create_collection_graph(user=m, assistant=m, judge=m).compile(
        ...     checkpointer=saver)  # doctest: +SKIP
    """
    if candidates < 1:
        raise ValueError(f"candidates must be >= 1, got {candidates}")
    if not 0.0 <= proactive_share <= 1.0:
        raise ValueError(f"proactive_share must be in [0, 1], got {proactive_share}")
    if max_messages < 2:
        raise ValueError(f"max_messages must be >= 2, got {max_messages}")
    user_role = create_simulated_user(user)
    base, proactive = create_assistant(assistant), create_assistant(assistant, proactive=True)
    n_proactive = round(candidates * proactive_share)
    reward = create_reward_graph(user=user, assistant=assistant, judge=judge, **reward_options)
    feedback = FeedbackSender()

    def turn_config(state: CollectState, config: RunnableConfig, **extra: Any) -> RunnableConfig:
        metadata = {**config.get("metadata", {}), "task_id": state["task"].id}
        metadata["turn"] = len(state.get("turns") or [])
        return {**config, "metadata": {**metadata, **extra}}

    async def simulated_user(state: CollectState, config: RunnableConfig) -> dict:
        try:
            message = await user_role.ainvoke(state, turn_config(state, config))
        except Exception as error:
            return {"done": True, "failure": f"simulated_user: {type(error).__name__}: {error}"}
        return {"messages": [message], "done": is_terminal(message)}

    async def propose(state: CollectState, config: RunnableConfig) -> dict:
        async def one(k: int) -> CandidateRecord | None:
            role = proactive if k < n_proactive else base
            run_id = uuid.uuid4()
            child = {**turn_config(state, config, candidate_index=k), "run_id": run_id}
            try:
                reply = await role.ainvoke(state, child)
            except Exception:
                return None
            return CandidateRecord(
                content=reply.text, proactive=role is proactive, run_id=str(run_id)
            )

        drafts = [c for c in await asyncio.gather(*map(one, range(candidates))) if c]
        if not drafts:
            return {"done": True, "failure": "assistant: every candidate failed"}
        return {"candidates": drafts}

    async def choose_(state: CollectState, config: RunnableConfig) -> dict:
        drafts = state["candidates"]
        inputs = {
            "messages": state["messages"],
            "candidates": [AIMessage(c.content) for c in drafts],
            "task": state["task"],
        }
        rewards = (await reward.ainvoke(inputs, turn_config(state, config)))["rewards"]
        scored = [
            CandidateRecord.from_reward(r, proactive=c.proactive, run_id=c.run_id)
            for r, c in zip(rewards, drafts, strict=True)
        ]
        best = choose(rewards)
        feedback.send(scored, trace=get_current_run_tree())  # the node's run when traced
        turn = TurnRecord(
            turn=len(state.get("turns") or []),
            prompt=to_dicts(state["messages"]),
            candidates=scored,
            chosen=best,
        )
        added: list[AnyMessage] = [AIMessage(drafts[best].content)]
        follow = next_user_message(rewards[best])
        if follow is not None and len(state["messages"]) + 2 <= max_messages:
            added.append(follow)
        done = (follow is not None and is_terminal(follow)) or (
            len(state["messages"]) + len(added) >= max_messages
        )
        return {"messages": added, "turns": [turn], "candidates": [], "done": done}

    recorded: set[str] = set()  # ids in the records file, read once, then kept up to date

    async def record(state: CollectState) -> dict:
        task = state["task"]
        done = ConversationRecord(
            task=task,
            messages=to_dicts(state.get("messages") or []),
            turns=state.get("turns") or [],
            usage=ledger.by_role(group=task.id) if ledger is not None else {},
            failure=state.get("failure"),
        )
        if records is not None:
            if not recorded:
                recorded.update(recorded_task_ids(records) or {""})
            # A kill between this write and the checkpoint reruns this node: write once.
            if task.id not in recorded:
                append_record(records, done)
                recorded.add(task.id)
        return {"record": done}

    def after_open(state: CollectState) -> str:
        return "record" if state.get("done") else "propose"

    def after_propose(state: CollectState) -> str:
        return "record" if state.get("done") else "choose"

    def after_choose(state: CollectState) -> str:
        if state.get("done"):
            return "record"
        return "propose" if isinstance(state["messages"][-1], HumanMessage) else "simulated_user"

    def first(state: CollectState) -> str:
        messages = state.get("messages") or []
        last_is_user = bool(messages) and isinstance(messages[-1], HumanMessage)
        return "propose" if last_is_user else "simulated_user"

    builder = StateGraph(CollectState)
    builder.add_node("simulated_user", simulated_user)
    builder.add_node("propose", propose)
    builder.add_node("choose", choose_)
    builder.add_node("record", record)
    builder.add_conditional_edges(START, first, ["simulated_user", "propose"])
    builder.add_conditional_edges("simulated_user", after_open, ["propose", "record"])
    builder.add_conditional_edges("propose", after_propose, ["choose", "record"])
    builder.add_conditional_edges("choose", after_choose, ["propose", "simulated_user", "record"])
    builder.add_edge("record", END)
    return builder


class CollectionSummary(BaseModel):
    """What a collection run did: tasks, records, turns, calls, tokens and cost per role."""

    tasks: int
    recorded: int
    skipped: int
    failed: int
    turns: int
    calls: int
    peak_calls_in_flight: int
    usage: dict[str, RoleUsage]
    cost_usd: dict[str, float]
    wall_s: float
    records_path: str

    @property
    def records_per_s(self) -> float:
        return self.recorded / self.wall_s if self.wall_s else 0.0


def _serde() -> JsonPlusSerializer:
    """The checkpoint serializer, allowed to revive exactly our state types."""
    types = [Task, CandidateRecord, TurnRecord, ConversationRecord, SampleRecord, RoleUsage]
    types += [MultiturnReward, ForwardSample, Judgement]
    return JsonPlusSerializer(allowed_msgpack_modules=[(t.__module__, t.__name__) for t in types])


def _cost(usage: Mapping[str, RoleUsage], prices: Mapping[str, tuple[float, float]]) -> dict:
    return {
        role: (u.input_tokens * prices[role][0] + u.output_tokens * prices[role][1]) / 1e6
        for role, u in usage.items()
        if role in prices
    }


async def acollect(
    tasks: Sequence[Task],
    *,
    user: UserLike,
    assistant: AssistantLike,
    judge: Any,
    out_dir: str | Path,
    max_concurrent_tasks: int = 4,
    max_model_calls: int = 16,
    prices: Mapping[str, tuple[float, float]] | None = None,
    progress: bool = True,
    **options: Any,
) -> CollectionSummary:
    """Collect a conversation record per task into ``out_dir/records.jsonl``, durably.

    Runs up to ``max_concurrent_tasks`` task threads at once under one SQLite checkpointer
    (``out_dir/checkpoints.sqlite``), with at most ``max_model_calls`` model calls in flight
    across all of them. Started again after a kill, it skips recorded tasks and resumes the
    others from their last checkpoint. ``options`` go to :func:`create_collection_graph`
    (``candidates``, ``proactive_share``, ``max_messages``, ``samples``, ``window``...);
    ``prices`` are USD per million input/output tokens per role, for the cost ledger.
    Writes ``out_dir/summary.json``.
    """
    if len({task.id for task in tasks}) != len(tasks):
        raise ValueError("Task ids must be unique: each task is one checkpointed thread")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records_path = out / "records.jsonl"
    ledger, gate = UsageLedger(group_by="task_id"), CallGate(max_model_calls)
    builder = create_collection_graph(
        user=user, assistant=assistant, judge=judge, records=records_path, ledger=ledger, **options
    )
    done_before = recorded_task_ids(records_path)
    todo = [task for task in tasks if task.id not in done_before]
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), disable=not progress, unit="task")
    lanes, failed, turns = asyncio.Semaphore(max_concurrent_tasks), 0, 0
    start = time.perf_counter()
    with tracing_guard():
        async with AsyncSqliteSaver.from_conn_string(str(out / "checkpoints.sqlite")) as saver:
            saver.serde = _serde()
            graph = builder.compile(checkpointer=saver, name="collection")

            async def run(task: Task) -> None:
                nonlocal failed, turns
                config = {"configurable": {"thread_id": task.id}, "callbacks": [ledger, gate]}
                config["recursion_limit"] = 8 * options.get("max_messages", DEFAULT_MAX_MESSAGES)
                async with lanes:
                    snapshot = await graph.aget_state(config)
                    fresh = not snapshot.values
                    result = await graph.ainvoke({"task": task} if fresh else None, config)
                failed += result.get("failure") is not None
                turns += len(result.get("turns") or [])
                bar.update(1)
                bar.set_postfix(turns=turns, calls=gate.calls, tokens=gate.tokens, refresh=False)

            await asyncio.gather(*map(run, todo))
    bar.close()
    usage = ledger.by_role()
    summary = CollectionSummary(
        tasks=len(tasks),
        recorded=len(todo),
        skipped=len(tasks) - len(todo),
        failed=failed,
        turns=turns,
        calls=gate.calls,
        peak_calls_in_flight=gate.peak,
        usage=usage,
        cost_usd=_cost(usage, prices or {}),
        wall_s=time.perf_counter() - start,
        records_path=str(records_path),
    )
    (out / "summary.json").write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    return summary


def collect(tasks: Sequence[Task], **options: Any) -> CollectionSummary:
    """Sync :func:`acollect` (runs its own event loop)."""
    return asyncio.run(acollect(tasks, **options))
