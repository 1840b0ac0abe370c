"""One writer per collection folder, its options checked, a stop turned into one line:
the wrapper of :func:`~langgraph_collab.collect.acollect`.

Before anything touches the folder, every option is checked
(:func:`~langgraph_collab.options_check.collect_problems`); then the run holds the folder's
writer lock (:mod:`~langgraph_collab.run_lock`; a shard's own folder) and turns SIGINT /
SIGTERM into one line saying what is recorded and how to resume (:mod:`~langgraph_collab._stop`).

Example:
    >>> @one_writer
    ... async def run(tasks, *, out_dir, num_shards=1, shard_index=0): ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from langgraph_collab._stop import stop_line
from langgraph_collab.options_check import collect_problems, raise_problems
from langgraph_collab.records import recorded_task_ids
from langgraph_collab.run_lock import hold_run_lock
from langgraph_collab.sharding import shard_dir, shard_tasks
from langgraph_collab.state import Task
from langgraph_collab.storage import prepare_out_dir

T = TypeVar("T")


def _kept(tasks: Sequence[Task], out: Path, shards: tuple[int, int], signal_name: str) -> str:
    """The line a stopped collection prints: what is kept, and how to resume."""
    mine = {task.id for task in shard_tasks(tasks, num_shards=shards[0], index=shards[1])}
    done = len(mine & recorded_task_ids(out / "records.jsonl"))
    return (
        f"collect stopped by {signal_name}: {done} of {len(mine)} tasks are recorded in "
        f"{out / 'records.jsonl'}, the others' finished turns are kept in "
        f"{out / 'checkpoints.sqlite'}; run the same collect again (the same call or command, "
        "the same out_dir) to resume"
    )


def one_writer(run: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., Coroutine[Any, Any, T]]:
    """``run`` (the body of :func:`~langgraph_collab.collect.acollect`) after the checks
    of every option and under the folder's writer lock, a signal turned into one line."""

    @functools.wraps(run)
    async def checked(
        tasks: Sequence[Task], *, out_dir: str | Path, num_shards: int = 1, shard_index: int = 0,
        **options: Any,
    ) -> T:  # fmt: skip
        shards = {"num_shards": num_shards, "shard_index": shard_index}
        raise_problems(collect_problems(tasks, {**options, **shards}))
        out = prepare_out_dir(shard_dir(out_dir, num_shards=num_shards, index=shard_index))
        with hold_run_lock(out, what="collect"):
            async with stop_line(functools.partial(_kept, tasks, out, (num_shards, shard_index))):
                return await run(tasks, out_dir=out_dir, **shards, **options)

    return checked


__all__ = ["one_writer"]
