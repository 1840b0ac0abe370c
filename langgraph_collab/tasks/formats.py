"""Row formats a task set may come in, each turned into :class:`~langgraph_collab.Task`.

- ours: ``id``, ``kind``, ``request``, ``reference``, ``description``, ``opening``,
  ``metadata`` (the bundled JSONL files);
- CollabLLM's published multiturn datasets (``collabllm/collabllm-multiturn-*``): flat rows
  ``prompt``, ``completion``, ``conv_id``, ``turn_id``, ``score``, ``single_turn_prompt``,
  ``single_turn_completion``, ``single_turn_metadata``, ``sessions``, ``rewards``; one task
  per ``conv_id``;
- MATH (``lighteval/MATH-Hard``): ``problem``, ``solution``, ``level``, ``type``;
- BigCodeBench (``bigcode/bigcodebench``): ``task_id``, ``instruct_prompt``,
  ``code_prompt``, ``canonical_solution``, ``test``, ``entry_point``, ``libs``.

Example:
    >>> task = row_to_task({"problem": "1+1?", "solution": "It is $\\\\boxed{2}$."}, kind=None)
    >>> task.kind, task.reference
    ('math', '2')
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from langgraph_collab.state import Task


class TaskFormatError(ValueError):
    """A row that cannot become a task: names the source, the row and the field."""


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` in ``text`` (nested braces allowed)."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, begin = 0, start + len("\\boxed{")
    for index in range(begin - 1, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[begin:index].strip()
    return None


def _metadata(value: Any) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _ours(row: dict, kind: str | None) -> dict:
    fields = {k: row[k] for k in Task.model_fields if k in row and row[k] is not None}
    fields["metadata"] = _metadata(row.get("metadata"))
    if kind and "kind" not in row:
        fields["kind"] = kind
    return fields


def _collabllm(row: dict, kind: str | None) -> dict:
    metadata = _metadata(row.get("single_turn_metadata"))
    reference = row.get("single_turn_completion")
    if kind == "math" and isinstance(reference, str):
        metadata.setdefault("solution", reference)
        reference = last_boxed(reference) or reference
    return {
        "id": str(row["conv_id"]),
        "kind": kind or "chat",
        "request": row["single_turn_prompt"],
        "reference": reference,
        "metadata": {**metadata, "source": "collabllm"},
    }


def _math(row: dict, kind: str | None) -> dict:
    solution = row["solution"]
    return {
        "id": str(row.get("id") or row.get("unique_id") or hash(row["problem"]) & 0xFFFFFFFF),
        "kind": kind or "math",
        "request": row["problem"],
        "reference": last_boxed(solution) or solution,
        "metadata": {"solution": solution, "level": row.get("level"), "type": row.get("type")},
    }


def _bigcodebench(row: dict, kind: str | None) -> dict:
    return {
        "id": str(row["task_id"]),
        "kind": kind or "code",
        "request": row["instruct_prompt"],
        "reference": row.get("code_prompt", "") + row.get("canonical_solution", ""),
        "metadata": {
            "test": row["test"],
            "entry_point": row.get("entry_point", "task_func"),
            "libs": row.get("libs"),
        },
    }


FORMATS = {  # the first format whose marker field a row has
    "single_turn_prompt": _collabllm,
    "request": _ours,
    "problem": _math,
    "instruct_prompt": _bigcodebench,
}


def row_to_task(row: dict, *, kind: str | None, source: str = "<rows>", index: int = 0) -> Task:
    """A task from one row in any of the formats above; :class:`TaskFormatError` names the
    source, the row (1-based) and the field when the row does not fit."""
    where = f"{source}: row {index + 1}"
    if not isinstance(row, dict):
        raise TaskFormatError(f"{where}: expected an object, got {type(row).__name__}")
    convert = next((f for marker, f in FORMATS.items() if marker in row), None)
    if convert is None:
        markers = ", ".join(FORMATS)
        raise TaskFormatError(f"{where}: unknown format: no field among {markers}")
    try:
        fields = convert(row, kind)
    except KeyError as error:
        raise TaskFormatError(f"{where}: field {error.args[0]!r} is missing") from error
    except (TypeError, ValueError) as error:
        raise TaskFormatError(f"{where}: field 'metadata': {error}") from error
    try:
        return Task(**fields)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise TaskFormatError(f"{where}: field {field!r}: {first['msg']}") from error
