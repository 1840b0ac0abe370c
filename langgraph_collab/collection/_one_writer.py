"""One writer per collection folder, its options checked, a stop turned into one line:
the wrapper of :func:`~langgraph_collab.collection.collect.acollect`.

Before anything touches the folder, every option is checked
(:func:`collect_problems`; the MR options become one
:class:`~langgraph_collab.reward.options.RewardOptions`); then the run holds the folder's
writer lock (:mod:`~langgraph_collab.collection.run_lock`; a shard's own folder) and turns SIGINT /
SIGTERM into one line saying what is recorded and how to resume
(:mod:`~langgraph_collab.collection._stop`).

Example:
    >>> @one_writer
    ... async def run(tasks, *, out_dir, num_shards=1, shard_index=0): ...
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from langgraph_collab.collection._stop import stop_line
from langgraph_collab.collection.graph import COLLECTION_DEFAULTS
from langgraph_collab.collection.records import recorded_task_ids
from langgraph_collab.collection.run_lock import hold_run_lock
from langgraph_collab.collection.sharding import shard_dir, shard_tasks
from langgraph_collab.collection.storage import prepare_out_dir
from langgraph_collab.options_check import (
    Problem,
    check_each,
    flag,
    price_table,
    raise_problems,
    share,
    whole,
)
from langgraph_collab.reward.options import FIELDS, RewardOptions, task_problems
from langgraph_collab.roles.assistant import create_assistant
from langgraph_collab.roles.judge import create_judge
from langgraph_collab.roles.user import create_simulated_user
from langgraph_collab.state import Task

T = TypeVar("T")


def role_names(user: Any, assistant: Any, judge: Any) -> list[str]:
    """The role names a run's usage reports (what ``prices`` may be keyed by): the three
    roles as built, and the fidelity guard's LLM check."""
    built = (create_simulated_user(user), create_assistant(assistant), create_judge(judge))
    return list(dict.fromkeys([*(role.name for role in built), "fidelity_judge"]))


def collect_problems(tasks: Any, options: Mapping[str, Any]) -> list[Problem]:
    """Every problem of :func:`~langgraph_collab.collection.collect`'s tasks and ``options`` (its
    keyword arguments): the MR options, the collection graph's, the run's (the shard
    options are :func:`~langgraph_collab.collection.sharding.check_shard`'s)."""
    reward = options.get("options") or RewardOptions()
    ids = [getattr(task, "id", None) for task in tasks] if isinstance(tasks, list | tuple) else []
    repeated = sorted(str(i) for i, n in Counter(ids).items() if n > 1)
    out = [
        f"tasks: ids {repeated[:3]} repeat; task ids must be unique: each task is one "
        "checkpointed thread"
        if repeated
        else None,
        *task_problems(tasks, metrics=reward.metrics, weights=reward.weights),
        *check_each(
            {
                "max_concurrent_tasks": lambda n, v: whole(n, v, minimum=1),
                "max_model_calls": lambda n, v: whole(n, v, minimum=1),
                "max_repeated_failures": lambda n, v: whole(n, v, minimum=1),
                "candidates": lambda n, v: whole(n, v, minimum=1),
                "proactive_share": share,
                "max_messages": lambda n, v: whole(
                    n, v, minimum=2, why=" (a user message and a reply)"
                ),
                "checkpoint_samples": flag,
                "progress": lambda n, v: (
                    None
                    if isinstance(v, bool) or callable(v)
                    else (f"{n}={v!r:.80}: must be True, False or a progress-bar factory")
                ),
            },
            options,
        ),
    ]
    if options.get("prices") is not None and not any(out):
        roles = role_names(options["user"], options["assistant"], options["judge"])
        out.append(price_table(options["prices"], roles))
    return out


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
    """``run`` (the body of :func:`~langgraph_collab.collection.collect.acollect`) after the checks
    of every option and under the folder's writer lock, a signal turned into one line."""

    @functools.wraps(run)
    async def checked(
        tasks: Sequence[Task], *, out_dir: str | Path, num_shards: int = 1, shard_index: int = 0,
        **options: Any,
    ) -> T:  # fmt: skip
        shards = {"num_shards": num_shards, "shard_index": shard_index}
        overrides = {key: options.pop(key) for key in list(options) if key in FIELDS}
        reward = RewardOptions.of(options.get("options"), defaults=COLLECTION_DEFAULTS, **overrides)
        options["options"] = reward
        raise_problems(collect_problems(tasks, {**options, **shards}))
        out = prepare_out_dir(shard_dir(out_dir, num_shards=num_shards, index=shard_index))
        with hold_run_lock(out, what="collect"):
            async with stop_line(functools.partial(_kept, tasks, out, (num_shards, shard_index))):
                return await run(tasks, out_dir=out_dir, **shards, **options)

    return checked


__all__ = ["one_writer"]
