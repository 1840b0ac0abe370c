"""Task sets: the bundled ones, local files, and the published CollabLLM datasets.

Bundled (written for this project, in the package): ``"math"``, ``"code"``,
``"document"`` and ``"ambiguity"``, each with a fixed ``"train"``/``"test"`` split (every
fifth task is a test task). Local ``.jsonl``, ``.json`` and ``.parquet`` files (UTF-8) in any
format of :mod:`langgraph_collab.tasks.formats`, read by :mod:`langgraph_collab.tasks.files`.
Hub datasets by name through ``datasets`` when a network is there
(``collabllm/collabllm-multiturn-math-hard``, ``-medium``, ``-bigcodebench``, their
``-large`` versions, ``lighteval/MATH-Hard``, ``bigcode/bigcodebench``).

Example:
    >>> from langgraph_collab.tasks import load_tasks
    >>> tasks = load_tasks("math", split="test", limit=2)
    >>> [t.kind for t in tasks]
    ['math', 'math']
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.messages.utils import convert_to_messages

from langgraph_collab.sandbox import hide
from langgraph_collab.state import Task
from langgraph_collab.tasks.files import read_json_lines, read_rows, source_kind
from langgraph_collab.tasks.formats import TaskFormatError, row_to_task, shares_task
from langgraph_collab.tasks.kinds import KINDS, TaskKind, UnknownKindError, check_kind, task_kind

BUNDLED = tuple(KINDS)
TEST_EVERY = 5
HUB_KINDS = {
    "collabllm/collabllm-multiturn-math-hard": "math",
    "collabllm/collabllm-multiturn-medium": "document",
    "collabllm/collabllm-multiturn-bigcodebench": "code",
    "collabllm/collabllm-multiturn-math-hard-large": "math",
    "collabllm/collabllm-multiturn-medium-large": "document",
    "collabllm/collabllm-multiturn-bigcodebench-large": "code",
    "lighteval/MATH-Hard": "math",
    "bigcode/bigcodebench": "code",
}


def _split(tasks: list[Task], split: str | None, source: str) -> list[Task]:
    if split in (None, "all"):
        return tasks
    test = split == "test"
    kept = [
        task for index, task in enumerate(tasks) if (index % TEST_EVERY == TEST_EVERY - 1) == test
    ]
    if not kept:
        raise TaskFormatError(
            f"{source}: no tasks in the {split!r} split: it has {len(tasks)} task(s) and every "
            f"{TEST_EVERY}th is a test task; give at least {TEST_EVERY} tasks, split='all', "
            "or separate evaluation tasks (--eval-tasks FILE)"
        )
    return kept


def _read_hub(name: str, split: str | None) -> list[Any]:
    try:
        from datasets import load_dataset
    except ImportError as error:
        raise ImportError("Hub datasets need the train extra: pip install datasets") from error
    try:
        return list(load_dataset(name, split=split or "train"))
    except Exception as error:
        raise RuntimeError(
            f"Could not load {name!r} from the Hugging Face Hub ({type(error).__name__}: "
            f"{error}). Offline? Download it where there is a network and pass the local file."
        ) from error


def tasks_from_rows(
    rows: Iterable[Any], *, kind: str | None = None, source: str = "<rows>"
) -> list[Task]:
    """Tasks from rows in any known format; rows of one multi-turn conversation (same
    ``conv_id``) give one task, and so do identical rows without an id.

    Raises:
        TaskFormatError: a malformed row, or two different tasks with one id (naming both
            rows).
    """
    tasks: dict[str, tuple[int, Task]] = {}
    for index, row in enumerate(rows):
        task = row_to_task(row, kind=kind, source=source, index=index)
        if task.id not in tasks:
            tasks[task.id] = (index, task)
            continue
        first, earlier = tasks[task.id]
        if shares_task(row) and earlier == task:
            continue
        raise TaskFormatError(
            f"{source}: rows {first + 1} and {index + 1} both have the task id {task.id!r}: "
            "give every task a unique id (records and checkpoints are keyed by it)"
        )
    return [task for _, task in tasks.values()]


def load_tasks(
    name_or_path: str | Path,
    *,
    split: str | None = None,
    limit: int | None = None,
    kind: str | None = None,
) -> list[Task]:
    """Load a task set: a bundled name, a local file, or a Hub dataset name.

    Args:
        name_or_path: ``"math"``, ``"code"``, ``"document"``, ``"ambiguity"``, a path, or a
            Hub dataset id (``owner/name``; a missing local-looking path is never tried
            on the Hub).
        split: ``"train"``, ``"test"`` or ``"all"`` (default) for bundled sets and files
            (every fifth task is a test task); the dataset's split for Hub datasets
            (default ``"train"``).
        limit: Keep the first ``limit`` tasks (at least 1).
        kind: The task kind for rows that carry none (inferred for known Hub datasets).

    Raises:
        FileNotFoundError: a missing file or an unknown name (did-you-mean included).
        TaskFormatError: an unreadable file, a malformed row (naming the file, the line or
            row and the field), no tasks, or a duplicate id.
        ValueError: a bad ``split``, ``limit`` or ``kind``.

    Example:
        >>> [task.id for task in load_tasks("math", split="test", limit=2)]
        ['math-005', 'math-010']
        >>> import json, pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "mine.jsonl"
        >>> _ = path.write_text(json.dumps({"id": "q1", "request": "2+2?", "reference": "4"}))
        >>> load_tasks(path, kind="math")[0].kind
        'math'
        >>> load_tasks("maths")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileNotFoundError: No task set 'maths': ...; did you mean 'math'? ...
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(
            f"limit must be a whole number >= 1, or None for every task; got {limit!r}"
        )
    if kind is not None:
        check_kind(kind)
    name = str(name_or_path)
    where = source_kind(name)
    if split not in (None, "all", "train", "test") and where != "hub":
        close = difflib.get_close_matches(str(split), ("train", "test", "all"), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}{hint}")
    if where == "bundled":
        source = f"bundled:{name}"
        text = resources.files(__name__).joinpath("data", f"{name}.jsonl").read_text("utf-8")
        rows = read_json_lines(text, source)
    elif where == "file":
        source, rows = name, read_rows(Path(name).expanduser())
        hide(str(Path(name).expanduser()))  # it may hold hidden tests: never in a sandbox
    else:
        source, rows = f"hub:{name}", _read_hub(name, split)
        kind = kind or HUB_KINDS.get(name)
    tasks = tasks_from_rows(rows, kind=kind, source=source)
    if not tasks:
        raise TaskFormatError(f"{source}: no tasks in this dataset split {split!r}")
    if where != "hub":
        tasks = _split(tasks, split, source)
    return tasks if limit is None else tasks[:limit]


def demo_example() -> tuple[Task, list[BaseMessage], list[str]]:
    """The bundled demo: a task, a conversation up to the user's turn, two candidate replies
    (one answers at once, one asks first)."""
    raw = json.loads(resources.files(__name__).joinpath("demo.json").read_text(encoding="utf-8"))
    return Task(**raw["task"]), convert_to_messages(raw["conversation"]), raw["candidates"]


__all__ = [
    "KINDS",
    "TaskFormatError",
    "TaskKind",
    "UnknownKindError",
    "check_kind",
    "demo_example",
    "load_tasks",
    "source_kind",
    "task_kind",
    "tasks_from_rows",
]
