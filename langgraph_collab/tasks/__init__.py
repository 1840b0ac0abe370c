"""Task sets: the bundled ones, local files, and the published CollabLLM datasets.

Bundled (written for this project, in the package): ``"math"``, ``"code"``,
``"document"`` and ``"ambiguity"``, each with a fixed ``"train"``/``"test"`` split (every
fifth task is a test task). Local ``.jsonl``, ``.json`` and ``.parquet`` files in any format
of :mod:`langgraph_collab.tasks.formats`. Hub datasets by name through ``datasets`` when a
network is there (``collabllm/collabllm-multiturn-math-hard``, ``-medium``,
``-bigcodebench``, their ``-large`` versions, ``lighteval/MATH-Hard``,
``bigcode/bigcodebench``).

Example:
    >>> from langgraph_collab.tasks import load_tasks
    >>> tasks = load_tasks("math", split="test", limit=2)
    >>> [t.kind for t in tasks]
    ['math', 'math']
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.messages.utils import convert_to_messages

from langgraph_collab.state import Task
from langgraph_collab.tasks.formats import TaskFormatError, row_to_task
from langgraph_collab.tasks.kinds import KINDS, TaskKind, task_kind

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


def _split(rows: list[Any], split: str | None) -> list[Any]:
    if split in (None, "all"):
        return rows
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}")
    test = split == "test"
    return [row for index, row in enumerate(rows) if (index % TEST_EVERY == TEST_EVERY - 1) == test]


def _read_json_lines(text: str, source: str) -> list[Any]:
    rows = []
    for index, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise TaskFormatError(f"{source}: row {index + 1}: not valid JSON: {error}") from error
    return rows


def _read_file(path: Path) -> list[Any]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_json_lines(path.read_text(encoding="utf-8"), str(path))
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, list) else [data]
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as error:
            raise ImportError("Reading Parquet needs pyarrow: pip install pyarrow") from error
        return pq.read_table(path).to_pylist()
    raise ValueError(f"{path}: unsupported file type {suffix!r} (use .jsonl, .json or .parquet)")


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
    ``conv_id``) give one task."""
    tasks: dict[str, Task] = {}
    for index, row in enumerate(rows):
        task = row_to_task(row, kind=kind, source=source, index=index)
        tasks.setdefault(task.id, task)
    return list(tasks.values())


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
            Hub dataset id.
        split: ``"train"``, ``"test"`` or ``"all"`` (default) for bundled sets and files;
            the dataset's split for Hub datasets (default ``"train"``).
        limit: Keep the first ``limit`` tasks.
        kind: The task kind for rows that carry none (inferred for known Hub datasets).

    Raises:
        TaskFormatError: a malformed row (naming the file, the row and the field).
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    name = str(name_or_path)
    if name in BUNDLED:
        source = f"bundled:{name}"
        text = resources.files(__name__).joinpath("data", f"{name}.jsonl").read_text("utf-8")
        rows = _split(_read_json_lines(text, source), split)
    elif Path(name).exists():
        source, rows = name, _split(_read_file(Path(name)), split)
    elif "/" in name and not name.startswith((".", "/")):
        source, rows = f"hub:{name}", _read_hub(name, split)
        kind = kind or HUB_KINDS.get(name)
    else:
        raise FileNotFoundError(
            f"No task set {name!r}: not a bundled set ({', '.join(BUNDLED)}), "
            "not an existing file, not a Hub dataset id"
        )
    tasks = tasks_from_rows(rows, kind=kind, source=source)
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
    "demo_example",
    "load_tasks",
    "task_kind",
    "tasks_from_rows",
]
