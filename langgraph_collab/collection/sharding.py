"""Shards: split a collection's tasks across processes or machines, and merge what they wrote.

``num_shards`` processes (a Slurm array, Kubernetes indexed jobs, Ray tasks, ``--workers``)
each collect the tasks of their ``index`` with :func:`shard_tasks`, the convention of HF
``datasets.Dataset.shard`` with its default (``contiguous=True``): shard ``i`` of ``n`` holds
one contiguous block, the first ``len % n`` blocks one task longer. Each shard writes its own
folder under the collection's, ``shard-00001-of-00004/`` (0-based index, HF's file naming),
with its own ``checkpoints.sqlite``, ``records.jsonl`` and ``summary.json``; one shard
(``num_shards=1``) keeps the plain layout. :func:`read_shards` merges a collection folder:
the plain ``records.jsonl`` and every shard folder's, refusing a task recorded twice and
reporting shards that are missing or unfinished.

Example:
    >>> shard_tasks(list("abcdefg"), num_shards=3, index=0)
    ['a', 'b', 'c']
    >>> shard_tasks(list("abcdefg"), num_shards=3, index=2)
    ['f', 'g']
    >>> shard_dir("runs/math", num_shards=4, index=1).as_posix()
    'runs/math/shard-00001-of-00004'
    >>> records = read_shards("runs/math")  # doctest: +SKIP
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from langgraph_collab.collection.records import ConversationRecord, read_records

T = TypeVar("T")
RECORDS, SUMMARY = "records.jsonl", "summary.json"
_SHARD = re.compile(r"shard-(\d{5})-of-(\d{5})")


class ShardError(ValueError):
    """Shards that cannot be merged: a task recorded twice, shards missing or unfinished,
    or shard folders of different shard counts; the message names them and what to do.

    Example:
        >>> import pathlib, tempfile
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> for n in (2, 3):
        ...     (out / shard_name(num_shards=n, index=0)).mkdir()
        >>> shard_problems(out)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        langgraph_collab.collection.sharding.ShardError: ... holds shards of 2 and 3 shards: ...
    """


def check_shard(*, num_shards: int, index: int) -> None:
    """Raise ``ValueError`` unless ``num_shards >= 1`` and ``0 <= index < num_shards``.

    Example:
        >>> check_shard(num_shards=4, index=4)
        Traceback (most recent call last):
        ...
        ValueError: shard index 4 is out of range for 4 shards: use 0 to 3
    """
    for name, value in (("num_shards", num_shards), ("shard index", index)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
    if num_shards < 1:
        raise ValueError(f"num_shards must be at least 1, got {num_shards}")
    if not 0 <= index < num_shards:
        raise ValueError(
            f"shard index {index} is out of range for {num_shards} shards: use 0 to "
            f"{num_shards - 1}"
        )


def shard_tasks(tasks: Sequence[T], *, num_shards: int, index: int) -> list[T]:
    """The tasks of shard ``index`` of ``num_shards``, as ``datasets.Dataset.shard(num_shards,
    index)`` selects rows: contiguous blocks, every task in exactly one shard, the same
    split for the same list on every machine.

    Example:
        >>> [shard_tasks(range(5), num_shards=2, index=i) for i in range(2)]
        [[0, 1, 2], [3, 4]]
    """
    check_shard(num_shards=num_shards, index=index)
    size, extra = divmod(len(tasks), num_shards)
    start = size * index + min(index, extra)
    return list(tasks[start : start + size + (index < extra)])


def shard_name(*, num_shards: int, index: int) -> str:
    """``shard-00001-of-00004``: the folder of shard ``index`` (0-based) of ``num_shards``.

    Example:
        >>> shard_name(num_shards=4, index=1)
        'shard-00001-of-00004'
    """
    check_shard(num_shards=num_shards, index=index)
    return f"shard-{index:05d}-of-{num_shards:05d}"


def shard_dir(out_dir: str | Path, *, num_shards: int, index: int) -> Path:
    """Where shard ``index`` writes: ``out_dir`` itself for one shard, else its shard folder.

    Example:
        >>> shard_dir("runs/x", num_shards=1, index=0).as_posix()
        'runs/x'
    """
    name = shard_name(num_shards=num_shards, index=index)
    return Path(out_dir) if num_shards == 1 else Path(out_dir) / name


def _unfinished(folder: Path) -> str | None:
    """Why a shard folder is not a finished shard (None when it is). Tasks that failed in
    a finished shard are not counted here: collect reported them, as without shards."""
    if (folder / SUMMARY).exists():
        return None
    if (folder / RECORDS).exists():
        return f"no {SUMMARY} (still running, or killed)"
    return "missing"


def shard_problems(out_dir: str | Path) -> list[str]:
    """What keeps the shard folders under ``out_dir`` from being a whole collection: shards
    missing or unfinished (records but no ``summary.json``), one line each, the
    command that completes it included. Empty when every shard is done (or none exists).

    Raises:
        ShardError: the folders come from different shard counts (``--num-shards`` changed).

    Example:
        >>> import pathlib, tempfile
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> done = out / shard_name(num_shards=2, index=0)
        >>> done.mkdir()
        >>> _ = (done / SUMMARY).write_text("{}")
        >>> shard_problems(out)
        ['shard 1 of 2: missing (run it: --num-shards 2 --shard-index 1)']
    """
    folders = {m: p for p in Path(out_dir).glob("shard-*-of-*") if (m := _SHARD.fullmatch(p.name))}
    counts = sorted({int(m.group(2)) for m in folders})
    if len(counts) > 1:
        raise ShardError(
            f"{out_dir} holds shards of {' and '.join(map(str, counts))} shards: merge one "
            "split only (move the other shard folders away)"
        )
    if not counts:
        return []
    n = counts[0]
    present = {int(m.group(1)): path for m, path in folders.items()}
    problems = []
    for index in range(n):
        why = _unfinished(present[index]) if index in present else "missing"
        if why is not None:
            problems.append(
                f"shard {index} of {n}: {why} (run it: --num-shards {n} --shard-index {index})"
            )
    return problems


def records_files(out_dir: str | Path) -> list[Path]:
    """The records files of a collection folder: its own, then each shard folder's.

    Example:
        >>> import pathlib, tempfile
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> for index in (1, 0):
        ...     folder = out / shard_name(num_shards=2, index=index)
        ...     folder.mkdir()
        ...     _ = (folder / RECORDS).write_text("")
        >>> [path.parent.name for path in records_files(out)]
        ['shard-00000-of-00002', 'shard-00001-of-00002']
    """
    out = Path(out_dir)
    files = [out / RECORDS, *sorted(out.glob(f"shard-*-of-*/{RECORDS}"))]
    return [path for path in files if path.is_file()]


def read_shards(out_dir: str | Path, *, allow_missing: bool = False) -> list[ConversationRecord]:
    """Every record of a collection folder: ``out_dir/records.jsonl`` and each shard
    folder's, in that order.

    Raises:
        ShardError: a task is recorded in two files (the task list or the shard count
            changed between shard runs), or a shard is missing or unfinished
            and ``allow_missing`` is false; with it, a ``RuntimeWarning`` lists them.
        DuplicateRecordError: a task twice in one file (two runs wrote it at once).
        FileNotFoundError: no records file at all.

    Example:
        >>> read_shards("/nonexistent")
        Traceback (most recent call last):
        ...
        FileNotFoundError: No records in /nonexistent (records.jsonl or shard-*-of-*/records.jsonl): run the collect stage first
    """  # noqa: E501
    problems = shard_problems(out_dir)
    if problems and not allow_missing:
        raise ShardError(
            f"{out_dir}: {len(problems)} shards are not done:\n  "
            + "\n  ".join(problems)
            + "\nrun them, or export what is there with --allow-missing-shards"
        )
    if problems:
        warnings.warn(
            f"{out_dir}: exporting without {len(problems)} shards: " + "; ".join(problems),
            RuntimeWarning,
            stacklevel=2,
        )
    files = records_files(out_dir)
    if not files:
        raise FileNotFoundError(
            f"No records in {out_dir} ({RECORDS} or shard-*-of-*/{RECORDS}): run the collect "
            "stage first"
        )
    seen: dict[str, Path] = {}
    merged = []
    for path in files:
        for record in read_records(path):
            task_id = record.task.id
            if task_id in seen:  # twice in one file: read_records refused it already
                raise ShardError(
                    f"task {task_id!r} is recorded in {seen[task_id]} and {path}: the task list or "
                    "--num-shards changed between runs; keep one collection (move the other "
                    "records away)"
                )
            seen[task_id] = path
            merged.append(record)
    return merged


__all__ = [
    "ShardError",
    "check_shard",
    "read_shards",
    "records_files",
    "shard_dir",
    "shard_name",
    "shard_problems",
    "shard_tasks",
]
