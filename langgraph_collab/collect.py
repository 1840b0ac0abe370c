"""Collection: turn MR into training data, one durable LangGraph thread per task.

Per task, the simulated user opens; at every assistant turn N candidate replies are sampled
(a share of them with the proactive prompt, as in the paper), each is scored by MR, the
conversation continues with the best, and the next user message comes from the winner's
best forward sample. It stops on ``[[TERMINATE CHAT]]`` or the message budget (14). Every
candidate's MR, components and forward samples, and the chosen index, are recorded.

The graph runs under a SQLite checkpointer, one thread per task: a run killed at any moment
and started again with the same arguments resumes where it stopped (finished turns are not
recomputed; the forward samples of the turn in flight are, since they are not
checkpointed), and each conversation is appended to ``records.jsonl`` once, in one write,
after its thread finished: a finished thread whose record is missing from the file
(deleted, cut short) is written again on the next run. Usage lives in the checkpointed
state, so a record counts the calls of every run it took.

Example:
    >>> from langgraph_collab.collect import collect
    >>> from langgraph_collab.tasks import load_tasks
    >>> summary = collect(load_tasks("math", limit=2), user="local", assistant="local",
    ...                   judge="local", out_dir="runs/demo")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import functools
import operator
import time
import uuid
import warnings
from collections.abc import Callable, Coroutine, Mapping, Sequence
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

from langgraph_collab._role import describe_model
from langgraph_collab._sync import run_sync
from langgraph_collab.assistant import AssistantLike, create_assistant
from langgraph_collab.errors import (
    ScoringError,
    TransientFailure,
    describe,
    error_key,
)
from langgraph_collab.fidelity import FidelityGuard, auser_turn, resolve_guard
from langgraph_collab.judge import JudgeLike, Judgement
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
from langgraph_collab.scoring import ForwardSample, MultiturnReward, best_index
from langgraph_collab.sharding import shard_dir, shard_tasks
from langgraph_collab.state import FidelityCounts, StopReason, Task, add_fidelity
from langgraph_collab.stopping import goal_met
from langgraph_collab.storage import check_checkpoint_db, prepare_out_dir
from langgraph_collab.tracing import (
    CallGate,
    FeedbackSender,
    RoleUsage,
    UsageLedger,
    tracing_guard,
    with_callback,
)
from langgraph_collab.user import UserLike, create_simulated_user, is_terminal

DEFAULT_MAX_MESSAGES = 14


def add_usage(left: dict[str, RoleUsage], right: dict[str, RoleUsage]) -> dict[str, RoleUsage]:
    """Reducer: usage per role, summed."""
    roles = {*left, *right}
    return {role: left.get(role, RoleUsage()) + right.get(role, RoleUsage()) for role in roles}


class CollectionState(TypedDict, total=False):
    """One task's collection thread: the chosen path, the turn records, the candidates
    awaiting their scores, the stop flag and the model usage so far (checkpointed with
    the rest, so it survives a kill)."""

    task: Task
    messages: Annotated[list[AnyMessage], add_messages]
    candidates: list[CandidateRecord]
    turns: Annotated[list[TurnRecord], operator.add]
    usage: Annotated[dict[str, RoleUsage], add_usage]
    fidelity: Annotated[FidelityCounts, add_fidelity]
    done: bool
    failure: str | None
    stop_reason: StopReason | None
    record: ConversationRecord


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
    judge: JudgeLike,
    candidates: int = 3,
    proactive_share: float = 0.5,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    fidelity: FidelityGuard | bool = True,
    grounded_stop: bool = True,
    **reward_options: Any,
) -> StateGraph:
    """Build (uncompiled) the per-task collection graph: ``simulated_user -> propose ->
    choose -> ... -> record``; ``record`` puts the :class:`ConversationRecord` in state
    (:func:`acollect` appends it to ``records.jsonl``). Each node adds the tokens and calls
    it spent to ``usage`` in state. A failure that outlived its retries raises out of the
    node, so the thread stays resumable at that step. ``fidelity`` guards every simulated
    user turn, the opening and the futures' (a user that cannot write a faithful opening
    ends the conversation, recorded with its ``failure``); ``grounded_stop`` ends the
    conversation, and the futures, once the task's goal is met. ``reward_options`` go to
    :func:`create_reward_graph` (``samples``, ``window``, ``metrics``, ``weights``,
    ``token_lambda``). Compile it with a checkpointer.

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
    # Forward samples are not checkpointed: a resumed turn (after a kill or a failure that
    # stopped it) redoes its samples, failed ones included, rather than replaying them,
    # and a collection writes one checkpoint per step instead of one per sample step.
    guard = resolve_guard(fidelity)
    reward = create_reward_graph(
        user=user,
        assistant=assistant,
        judge=judge,
        checkpointer=False,
        fidelity=guard or False,
        grounded_stop=grounded_stop,
        **reward_options,
    )
    feedback = FeedbackSender()

    def turn_config(
        state: CollectionState, config: RunnableConfig, ledger: UsageLedger, **extra: Any
    ) -> RunnableConfig:
        metadata = {**config.get("metadata", {}), "task_id": state["task"].id}
        metadata["turn"] = len(state.get("turns") or [])
        config = with_callback(config, ledger)
        return {**config, "metadata": {**metadata, **extra}}

    async def simulated_user(state: CollectionState, config: RunnableConfig) -> dict:
        ledger = UsageLedger()
        child = user_role.tagged(turn_config(state, config, ledger))
        turn = await auser_turn(user_role, guard, state, child)
        update = {"usage": ledger.by_role(), "fidelity": turn.counts}
        if turn.message is None:
            return {**update, "done": True, "failure": turn.failure, "stop_reason": "failure"}
        done = is_terminal(turn.message)
        return {**update, "messages": [turn.message], "done": done,
                "stop_reason": "user" if done else None}  # fmt: skip

    async def propose(state: CollectionState, config: RunnableConfig) -> dict:
        ledger = UsageLedger()

        async def one(k: int) -> CandidateRecord | str:
            role = proactive if k < n_proactive else base
            run_id = uuid.uuid4()
            child = {**turn_config(state, config, ledger, candidate_index=k), "run_id": run_id}
            try:
                reply = await role.ainvoke(state, child)
            except TransientFailure as error:  # the other candidates may still do
                return str(error)
            return CandidateRecord(
                content=reply.text, proactive=role is proactive, run_id=str(run_id)
            )

        results = await asyncio.gather(*map(one, range(candidates)))
        drafts = [c for c in results if isinstance(c, CandidateRecord)]
        if not drafts:
            raise ScoringError("assistant: every candidate failed", results)
        return {"candidates": drafts, "usage": ledger.by_role()}

    async def choose_best(state: CollectionState, config: RunnableConfig) -> dict:
        ledger = UsageLedger()
        drafts = state["candidates"]
        inputs = {
            "messages": state["messages"],
            "candidates": [AIMessage(c.content) for c in drafts],
            "task": state["task"],
        }
        rewards = (await reward.ainvoke(inputs, turn_config(state, config, ledger)))["rewards"]
        scored = [
            CandidateRecord.from_reward(r, proactive=c.proactive, run_id=c.run_id)
            for r, c in zip(rewards, drafts, strict=True)
        ]
        best = best_index([r.mean for r in rewards])
        feedback.send(scored, trace=get_current_run_tree())  # the node's run when traced
        turn = TurnRecord(
            turn=len(state.get("turns") or []),
            prompt=to_dicts(state["messages"]),
            candidates=scored,
            chosen=best,
        )
        added: list[AnyMessage] = [AIMessage(drafts[best].content)]
        met = grounded_stop and await asyncio.to_thread(
            goal_met, state["task"], [*state["messages"], *added]
        )
        follow = None if met else next_user_message(rewards[best])
        if follow is not None and len(state["messages"]) + 2 <= max_messages:
            added.append(follow)
        stop = (
            "goal_met" if met
            else "user" if follow is not None and is_terminal(follow)
            else "budget" if len(state["messages"]) + len(added) >= max_messages
            else None
        )  # fmt: skip
        return {
            "messages": added,
            "turns": [turn],
            "candidates": [],
            "done": stop is not None,
            "stop_reason": stop,
            "usage": ledger.by_role(),
            "fidelity": sum((r.fidelity for r in rewards), FidelityCounts()),
        }

    def record(state: CollectionState) -> dict:
        done = ConversationRecord(
            task=state["task"],
            messages=to_dicts(state.get("messages") or []),
            turns=state.get("turns") or [],
            usage=state.get("usage") or {},
            failure=state.get("failure"),
            stop_reason=state.get("stop_reason"),
            fidelity=state.get("fidelity") or FidelityCounts(),
        )
        return {"record": done}

    def after_open(state: CollectionState) -> str:
        return "record" if state.get("done") else "propose"

    def after_choose(state: CollectionState) -> str:
        if state.get("done"):
            return "record"
        return "propose" if isinstance(state["messages"][-1], HumanMessage) else "simulated_user"

    def first(state: CollectionState) -> str:
        messages = state.get("messages") or []
        last_is_user = bool(messages) and isinstance(messages[-1], HumanMessage)
        return "propose" if last_is_user else "simulated_user"

    builder = StateGraph(CollectionState)
    builder.add_node("simulated_user", simulated_user)
    builder.add_node("propose", propose)
    builder.add_node("choose", choose_best)
    builder.add_node("record", record)
    builder.add_conditional_edges(START, first, ["simulated_user", "propose"])
    builder.add_conditional_edges("simulated_user", after_open, ["propose", "record"])
    builder.add_edge("propose", "choose")
    builder.add_conditional_edges("choose", after_choose, ["propose", "simulated_user", "record"])
    builder.add_edge("record", END)
    return builder


class CollectionSummary(BaseModel):
    """What a collection run did: tasks, records written, tasks that failed (with why),
    turns, calls, tokens and cost per role, and how the simulated user behaved in the
    records written (kept and rejected turns by reason, live and in the futures; stop
    reasons; mean turns).

    Example:
        >>> summary = collect(tasks, user=m, assistant=m, judge=m, out_dir="x")  # doctest: +SKIP
        >>> summary.fidelity.shares(), summary.stop_reasons  # doctest: +SKIP
        ({'role_drift': 0.04}, {'user': 3, 'goal_met': 5})
    """

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
    errors: dict[str, str] = {}
    user_model: str | None = None
    fidelity: FidelityCounts = FidelityCounts()
    stop_reasons: dict[str, int] = {}
    mean_turns: float | None = None

    @property
    def records_per_s(self) -> float:
        return self.recorded / self.wall_s if self.wall_s else 0.0


def _serde() -> JsonPlusSerializer:
    """The checkpoint serializer, allowed to revive exactly our state types."""
    types = [Task, CandidateRecord, TurnRecord, ConversationRecord, SampleRecord, RoleUsage]
    types += [FidelityCounts]
    types += [MultiturnReward, ForwardSample, Judgement]
    return JsonPlusSerializer(allowed_msgpack_modules=[(t.__module__, t.__name__) for t in types])


def _cost(usage: Mapping[str, RoleUsage], prices: Mapping[str, tuple[float, float]]) -> dict:
    return {
        role: (u.input_tokens * prices[role][0] + u.output_tokens * prices[role][1]) / 1e6
        for role, u in usage.items()
        if role in prices
    }


def _fidelity_summary(records: Sequence[ConversationRecord], user: UserLike) -> dict[str, Any]:
    stops: dict[str, int] = {}
    for record in records:
        reason = record.stop_reason or "unknown"
        stops[reason] = stops.get(reason, 0) + 1
    turns = [len(record.turns) for record in records]
    return {
        "user_model": describe_model(create_simulated_user(user).model),
        "fidelity": sum((record.fidelity for record in records), FidelityCounts()),
        "stop_reasons": stops,
        "mean_turns": sum(turns) / len(turns) if turns else None,
    }


async def _all_or_abort(coroutines: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Run ``coroutines`` together; the first one to raise cancels the rest (and waits
    for them to stop) before its error propagates."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()


async def acollect(
    tasks: Sequence[Task],
    *,
    user: UserLike,
    assistant: AssistantLike,
    judge: JudgeLike,
    out_dir: str | Path,
    max_concurrent_tasks: int = 4,
    max_model_calls: int = 16,
    max_repeated_failures: int = 3,
    prices: Mapping[str, tuple[float, float]] | None = None,
    progress: bool | Callable[..., Any] = True,
    num_shards: int = 1,
    shard_index: int = 0,
    **options: Any,
) -> CollectionSummary:
    """Collect a conversation record per task into ``out_dir/records.jsonl``, durably.

    Runs up to ``max_concurrent_tasks`` task threads at once under one SQLite checkpointer
    (``out_dir/checkpoints.sqlite``), with at most ``max_model_calls`` model calls in flight
    across all of them. Started again after a kill, it skips recorded tasks, writes the
    record of a finished thread the records file lacks, and resumes the others from their
    last checkpoint. ``options`` go to :func:`create_collection_graph` (``candidates``,
    ``proactive_share``, ``max_messages``, ``samples``, ``window``...); ``prices`` are USD
    per million input/output tokens per role, for the cost ledger. Writes
    ``out_dir/summary.json`` when the run ends (removed at its start, so that a shard
    killed or crashed shows unfinished). ``progress``: a tqdm bar, none (False), or a factory
    ``(total=, initial=)`` of an object with tqdm's ``update`` / ``set_postfix`` / ``close``.

    Shards (:mod:`~langgraph_collab.sharding`): with ``num_shards`` > 1 this process
    collects only the tasks of shard ``shard_index`` (``datasets.Dataset.shard``'s split)
    into ``out_dir/shard-0000i-of-0000n/`` (its own checkpoints, records and summary), so
    that n processes or machines share ``tasks``; ``read_shards(out_dir)`` merges them.

    Failures: a permanent error (a wrong key, a bug in a callable) stops the run at once. A
    task whose transient failure outlived its retries is left unrecorded, resumable (the
    next run retries it from its last checkpoint), and listed in ``errors``; the same
    failure in ``max_repeated_failures`` tasks, or in every task, stops the run with a
    :class:`~langgraph_collab.errors.ScoringError`.
    """
    if isinstance(tasks, Task) or not all(isinstance(task, Task) for task in tasks):
        raise TypeError("`tasks` must be a list of langgraph_collab.Task (see load_tasks)")
    if len({task.id for task in tasks}) != len(tasks):
        raise ValueError("Task ids must be unique: each task is one checkpointed thread")
    tasks = shard_tasks(tasks, num_shards=num_shards, index=shard_index)
    out = prepare_out_dir(shard_dir(out_dir, num_shards=num_shards, index=shard_index))
    check_checkpoint_db(out / "checkpoints.sqlite")
    (out / "summary.json").unlink(missing_ok=True)  # present = a run that finished
    records_path = out / "records.jsonl"
    ledger, gate = UsageLedger(group_by="task_id"), CallGate(max_model_calls)
    builder = create_collection_graph(user=user, assistant=assistant, judge=judge, **options)
    recorded = recorded_task_ids(records_path)
    todo = [task for task in tasks if task.id not in recorded]
    bar_of = progress if callable(progress) else functools.partial(tqdm, disable=not progress)
    bar = bar_of(total=len(tasks), initial=len(tasks) - len(todo), unit="task")
    lanes = asyncio.Semaphore(max_concurrent_tasks)
    errors: dict[str, str] = {}
    kept: list[ConversationRecord] = []
    written = turns = 0
    start = time.perf_counter()

    def failed(task: Task, error: Exception) -> None:
        errors[task.id] = describe("collect", error)
        keys = [error_key(e) for e in errors.values()]
        if keys.count(error_key(errors[task.id])) >= max_repeated_failures:
            raise ScoringError(
                f"collect stopped: the same failure in {max_repeated_failures} tasks",
                errors.values(),
            ) from error

    with tracing_guard():
        async with AsyncSqliteSaver.from_conn_string(str(out / "checkpoints.sqlite")) as saver:
            saver.serde = _serde()
            graph = builder.compile(checkpointer=saver, name="collection")

            async def run(task: Task) -> None:
                nonlocal written, turns
                config = {"configurable": {"thread_id": task.id}, "callbacks": [ledger, gate]}
                config["recursion_limit"] = 8 * options.get("max_messages", DEFAULT_MAX_MESSAGES)
                async with lanes:
                    snapshot = await graph.aget_state(config)
                    if snapshot.values.get("record") is not None and not snapshot.next:
                        result = snapshot.values  # finished before; its record may be missing
                    else:
                        try:
                            fresh = {"task": task} if not snapshot.values else None
                            result = await graph.ainvoke(fresh, config)
                        except (TransientFailure, ScoringError) as error:
                            bar.update(1)
                            return failed(task, error)
                if task.id not in recorded:
                    append_record(records_path, result["record"])
                    recorded.add(task.id)
                    written += 1
                    kept.append(result["record"])
                turns += len(result.get("turns") or [])
                bar.update(1)
                bar.set_postfix(turns=turns, calls=gate.calls, tokens=gate.tokens, refresh=False)

            try:
                await _all_or_abort([run(task) for task in todo])
            finally:
                bar.close()
    usage = ledger.by_role()
    summary = CollectionSummary(
        tasks=len(tasks),
        recorded=written,
        skipped=len(tasks) - len(todo),
        failed=len(errors),
        turns=turns,
        calls=gate.calls,
        peak_calls_in_flight=gate.peak,
        usage=usage,
        cost_usd=_cost(usage, prices or {}),
        wall_s=time.perf_counter() - start,
        records_path=str(records_path),
        errors=errors,
        **_fidelity_summary(kept, user),
    )
    (out / "summary.json").write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    if todo and len(errors) == len(todo):
        raise ScoringError(f"collect: every one of {len(todo)} tasks failed", errors.values())
    if errors:
        warnings.warn(
            f"collect: {len(errors)} of {len(todo)} tasks failed and are left unrecorded (run "
            f"again to retry them); first: {next(iter(errors.values()))}",
            RuntimeWarning,
            stacklevel=2,
        )
    return summary


def collect(tasks: Sequence[Task], **options: Any) -> CollectionSummary:
    """Sync :func:`acollect` (also from inside a running event loop)."""
    return run_sync(acollect(tasks, **options))
