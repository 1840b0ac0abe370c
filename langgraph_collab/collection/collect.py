"""Collection: turn MR into training data, one durable LangGraph thread per task.

Each task's conversation is the collection graph
(:func:`~langgraph_collab.collection.graph.create_collection_graph`); every candidate's MR,
components and forward samples, and the chosen index, are recorded.

The graph runs under a SQLite checkpointer, one thread per task: a run killed at any moment
and started again with the same arguments resumes where it stopped (finished turns are not
recomputed; the forward samples of the turn in flight are, unless ``checkpoint_samples``),
and each conversation is appended to ``records.jsonl`` once, in one write,
after its thread finished: a finished thread whose record is missing from the file
(deleted, cut short) is written again on the next run. Every model call of every run,
a killed one's included, goes to the folder's call ledger (``usage.jsonl``): a record's
``usage`` is every call made for it (``metadata["calls_redone"]``: those made again after
a stop), ``summary.json``'s the folder's total over its runs.

One process writes a run folder at a time (:mod:`~langgraph_collab.collection.run_lock`): a second
``collect`` on the same folder (or shard) fails at once, before any model call. Every
option is checked first (:mod:`~langgraph_collab.options_check`). SIGINT or SIGTERM stops
the run with one line saying what is kept and how to resume.

Example:
    >>> from langgraph_collab.collection.collect import collect
    >>> from langgraph_collab.tasks import load_tasks
    >>> summary = collect(load_tasks("math", limit=2), user="local", assistant="local",
    ...                   judge="local", out_dir="runs/demo")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import functools
import time
import warnings
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from tqdm.auto import tqdm

from langgraph_collab._runtime.heap import frozen_heap
from langgraph_collab.collection._call_ledger import CallLedger
from langgraph_collab.collection._one_writer import one_writer
from langgraph_collab.collection._stop import run_stoppable
from langgraph_collab.collection.graph import (
    DEFAULT_MAX_MESSAGES,
    create_collection_graph,
)
from langgraph_collab.collection.records import (
    CandidateRecord,
    ConversationRecord,
    SampleRecord,
    TurnRecord,
    append_record,
    counted,
    recorded_task_ids,
)
from langgraph_collab.collection.sharding import shard_dir, shard_tasks
from langgraph_collab.collection.storage import check_checkpoint_db, prepare_out_dir
from langgraph_collab.collection.summary import (
    GIVE_UP_WARN_SHARE,
    CollectionSummary,
    cost_by_role,
    fidelity_summary,
)
from langgraph_collab.errors import (
    ScoringError,
    TransientFailure,
    describe,
    error_key,
)
from langgraph_collab.reward.options import RewardOptions
from langgraph_collab.reward.scoring import ForwardSample, MultiturnReward
from langgraph_collab.roles.assistant import AssistantLike
from langgraph_collab.roles.judge import JudgeLike, Judgement
from langgraph_collab.roles.user import UserLike
from langgraph_collab.state import FidelityCounts, Task
from langgraph_collab.tracing import (
    CallGate,
    RoleUsage,
    UsageLedger,
    tracing_guard,
)


def _serde() -> JsonPlusSerializer:
    """The checkpoint serializer, allowed to revive exactly our state types."""
    types = [Task, CandidateRecord, TurnRecord, ConversationRecord, SampleRecord, RoleUsage]
    types += [FidelityCounts]
    types += [MultiturnReward, ForwardSample, Judgement]
    return JsonPlusSerializer(allowed_msgpack_modules=[(t.__module__, t.__name__) for t in types])


async def _all_or_abort(coroutines: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Run ``coroutines`` together; the first one to raise cancels the rest (and waits
    for them to stop) before its error propagates."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    if not tasks:
        return
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:  # stopped (a signal): stop them all before leaving
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()


@one_writer
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
    options: RewardOptions | None = None,
    candidates: int = 3,
    proactive_share: float = 0.5,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    checkpoint_samples: bool = False,
    **overrides: Any,
) -> CollectionSummary:
    """Collect a conversation record per task into ``out_dir/records.jsonl``, durably.

    Runs up to ``max_concurrent_tasks`` task threads at once under one SQLite checkpointer
    (``out_dir/checkpoints.sqlite``), with at most ``max_model_calls`` model calls in flight
    across all of them. Started again after a kill, it skips recorded tasks, writes the
    record of a finished thread the records file lacks, and resumes the others from their
    last checkpoint. The graph's options are :func:`create_collection_graph`'s
    (``candidates``, ``proactive_share``, ``max_messages``, ``checkpoint_samples``) and the
    MR's (``options``, a :class:`~langgraph_collab.reward.options.RewardOptions`, whose
    fields keywords may override: ``samples=2``; collection's default turns
    ``grounded_stop`` on); ``prices`` are USD per million input/output tokens per role, for
    the cost ledger, keyed by the role names usage reports (``simulated_user``,
    ``assistant``, ``judge``, ``fidelity_judge``; another key is an error). Writes
    ``out_dir/summary.json`` when the run ends (removed at its start, so that a shard
    killed or crashed shows unfinished). ``progress``: a tqdm bar, none (False), or a factory
    ``(total=, initial=)`` of an object with tqdm's ``update`` / ``set_postfix`` / ``close``.

    Shards (:mod:`~langgraph_collab.collection.sharding`): with ``num_shards`` > 1 this process
    collects only the tasks of shard ``shard_index`` (``datasets.Dataset.shard``'s split)
    into ``out_dir/shard-0000i-of-0000n/`` (its own checkpoints, records and summary), so
    that n processes or machines share ``tasks``; ``read_shards(out_dir)`` merges them.

    Failures: a permanent error (a wrong key, a bug in a callable) stops the run at once. A
    task whose transient failure outlived its retries is left unrecorded, resumable (the
    next run retries it from its last checkpoint), and listed in ``errors``; the same
    failure in ``max_repeated_failures`` tasks, or in every task, stops the run with a
    :class:`~langgraph_collab.errors.ScoringError`.

    One writer per folder: the run holds ``out_dir``'s (or its shard folder's) writer lock
    (:func:`~langgraph_collab.collection.run_lock.hold_run_lock`); another run there raises
    :class:`~langgraph_collab.collection.run_lock.RunLockedError` at once, naming the holder.
    Options are checked before anything else
    (:func:`~langgraph_collab.collection._one_writer.collect_problems`:
    an :class:`~langgraph_collab.options_check.OptionError` names each bad one). SIGINT /
    SIGTERM print one line (what is recorded, how to resume), then raise
    ``KeyboardInterrupt`` / ``SystemExit(143)``. ``summary.json``'s ``usage`` and
    ``calls_total`` are every run's on this folder (``runs``), ``calls_redone`` the calls
    the records written now had to make again after a stop, ``calls_cut_short`` those in
    flight when a run was killed; ``calls`` and ``usage_this_run`` this run's.

    Forward samples (``checkpoint_samples``): off (the default), only the collection
    graph's own steps are checkpointed, and a run stopped during a turn redoes all of that
    turn's forward samples when it resumes. On, every finished forward sample, and every
    step of its future, is checkpointed too, and a resumed turn redoes only the samples
    that were in flight, at the price of a far larger database and more CPU on every
    record (``benchmarks/checkpoint_volume.py``); turn it on where stops are frequent
    (preemptible machines) and model calls are dear. A record's ``usage`` counts the calls
    of every run either way (the folder's call ledger).

    While it runs, the objects that existed when it started (modules, loaded models) are
    left out of the garbage collector's full passes
    (:func:`~langgraph_collab._runtime.heap.frozen_heap`), which would walk them all.
    """
    tasks = shard_tasks(tasks, num_shards=num_shards, index=shard_index)
    out = prepare_out_dir(shard_dir(out_dir, num_shards=num_shards, index=shard_index))
    check_checkpoint_db(out / "checkpoints.sqlite")
    (out / "summary.json").unlink(missing_ok=True)  # present = a run that finished
    records_path = out / "records.jsonl"
    ledger, gate = UsageLedger(group_by="task_id"), CallGate(max_model_calls)
    calls = CallLedger(out / "usage.jsonl")  # every call of every run, kills included
    redone = 0
    graph_options = {
        "user": user, "assistant": assistant, "judge": judge, "candidates": candidates,
        "proactive_share": proactive_share, "max_messages": max_messages,
        "checkpoint_samples": checkpoint_samples, "options": options, **overrides,
    }  # fmt: skip
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

    with tracing_guard(), frozen_heap():
        async with AsyncSqliteSaver.from_conn_string(str(out / "checkpoints.sqlite")) as saver:
            saver.serde = _serde()
            graph = create_collection_graph(**graph_options, checkpointer=saver)

            async def run(task: Task) -> None:
                nonlocal written, turns, redone
                callbacks = [ledger, gate, calls]
                config = {"configurable": {"thread_id": task.id}, "callbacks": callbacks}
                config["metadata"] = {"task_id": task.id}  # every call, the opening's too
                config["recursion_limit"] = 8 * max_messages
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
                    record = counted(result["record"], calls.by_role(task.id))
                    append_record(records_path, record)
                    recorded.add(task.id)
                    written += 1
                    redone += record.metadata.get("calls_redone", 0)
                    kept.append(record)
                turns += len(result.get("turns") or [])
                bar.update(1)
                bar.set_postfix(turns=turns, calls=gate.calls, tokens=gate.tokens, refresh=False)

            try:
                await _all_or_abort([run(task) for task in todo])
            finally:
                bar.close()
                calls.close()
    usage = calls.by_role()
    summary = CollectionSummary(
        tasks=len(tasks),
        recorded=written,
        skipped=len(tasks) - len(todo),
        failed=len(errors),
        turns=turns,
        calls=gate.calls,
        peak_calls_in_flight=gate.peak,
        usage=usage,
        runs=calls.runs,
        calls_total=sum(u.calls for u in usage.values()),
        calls_redone=redone,
        calls_cut_short=calls.cut_short,
        usage_this_run=ledger.by_role(),
        cost_usd=cost_by_role(usage, prices or {}),
        wall_s=time.perf_counter() - start,
        records_path=str(records_path),
        errors=errors,
        containment=next(filter(None, (r.containment for r in kept)), None),
        **fidelity_summary(kept, user),
    )
    (out / "summary.json").write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    if todo and len(errors) == len(todo):
        raise ScoringError(f"collect: every one of {len(todo)} tasks failed", errors.values())
    if summary.futures_given_up > GIVE_UP_WARN_SHARE * summary.futures:
        warnings.warn(
            f"collect: the fidelity guard gave up on {summary.futures_given_up} of "
            f"{summary.futures} forward samples (over {GIVE_UP_WARN_SHARE:.0%}): see "
            "summary.fidelity for the checks that rejected the simulated user",
            RuntimeWarning,
            stacklevel=2,
        )
    if errors:
        warnings.warn(
            f"collect: {len(errors)} of {len(todo)} tasks failed and are left unrecorded (run "
            f"again to retry them); first: {next(iter(errors.values()))}",
            RuntimeWarning,
            stacklevel=2,
        )
    return summary


def collect(
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
    options: RewardOptions | None = None,
    candidates: int = 3,
    proactive_share: float = 0.5,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    checkpoint_samples: bool = False,
    **overrides: Any,
) -> CollectionSummary:
    """Sync :func:`acollect` (also from inside a running event loop).

    Example:
        >>> summary = collect(tasks, user=m, assistant=m, judge=m, out_dir="x")  # doctest: +SKIP
    """
    return run_stoppable(
        acollect(
            tasks, user=user, assistant=assistant, judge=judge, out_dir=out_dir,
            max_concurrent_tasks=max_concurrent_tasks, max_model_calls=max_model_calls,
            max_repeated_failures=max_repeated_failures, prices=prices, progress=progress,
            num_shards=num_shards, shard_index=shard_index, options=options,
            candidates=candidates, proactive_share=proactive_share, max_messages=max_messages,
            checkpoint_samples=checkpoint_samples, **overrides,
        )
    )  # fmt: skip
