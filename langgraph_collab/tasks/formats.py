"""Row formats a task set may come in, each turned into :class:`~langgraph_collab.Task`.

- ours: ``id``, ``kind``, ``request``, ``reference``, ``description``, ``opening``,
  ``metadata`` (the bundled JSONL files); other fields are an error (extra data goes
  under ``metadata``), a missing ``id`` is derived from the request;
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

import difflib
import hashlib
import json
from typing import Any

from pydantic import ValidationError

from langgraph_collab.state import Task
from langgraph_collab.tasks.kinds import UnknownKindError, check_kind

ID_FIELDS = ("id", "unique_id", "task_id", "conv_id")
"""Fields that give a row its task id; rows without one get an id from their content."""


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


def content_id(text: str) -> str:
    """A stable id from a task's text (``hash()`` changes from run to run)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _metadata(value: Any) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _ours(row: dict, kind: str | None) -> dict:
    unknown = [key for key in row if key not in Task.model_fields]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), Task.model_fields, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _FieldError(
            unknown[0],
            f"unknown field{hint}; the fields are {', '.join(Task.model_fields)}: rename it, "
            "or move extra data under 'metadata'",
        )
    fields = {k: row[k] for k in Task.model_fields if k in row and row[k] is not None}
    if isinstance(fields.get("id"), int) and not isinstance(fields["id"], bool):
        fields["id"] = str(fields["id"])
    if "id" not in fields and isinstance(row.get("request"), str):
        fields["id"] = content_id(row["request"])
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
        "id": str(row.get("id") or row.get("unique_id") or content_id(row["problem"])),
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


class _FieldError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def shares_task(row: Any) -> bool:
    """Whether rows repeating this row's task id are the same task (the rows of one
    CollabLLM conversation, or rows whose id comes from their content) rather than a
    duplicate id."""
    if not isinstance(row, dict):
        return False
    return "single_turn_prompt" in row or not any(field in row for field in ID_FIELDS)


def row_to_task(row: dict, *, kind: str | None, source: str = "<rows>", index: int = 0) -> Task:
    """A task from one row in any of the formats above; :class:`TaskFormatError` names the
    source, the row (1-based), the field and what to do when the row does not fit.

    Example:
        >>> row_to_task({"id": "a", "kind": "maths", "request": "1+1?"}, kind=None)
        Traceback (most recent call last):
        ...
        langgraph_collab.tasks.formats.TaskFormatError: <rows>: row 1: field 'kind': unknown ...
    """
    where = f"{source}: row {index + 1}"
    if not isinstance(row, dict):
        raise TaskFormatError(
            f'{where}: expected a JSON object such as {{"id": "t1", "request": "..."}}, '
            f"got {type(row).__name__} {_short(row)}"
        )
    convert = next((f for marker, f in FORMATS.items() if marker in row), None)
    if convert is None:
        markers = ", ".join(repr(marker) for marker in FORMATS)
        raise TaskFormatError(
            f"{where}: unknown format: the row has none of the fields {markers} (found "
            f"{', '.join(map(repr, list(row)[:8])) or 'no fields'}); give each task at least "
            "a 'request' (see langgraph_collab.tasks.formats)"
        )
    try:
        fields = convert(row, kind)
        fields["kind"] = check_kind(fields.get("kind", "chat"))
    except KeyError as error:
        raise TaskFormatError(
            f"{where}: field {error.args[0]!r} is missing: add it (this row is in the "
            f"{convert.__name__.strip('_')} format)"
        ) from error
    except UnknownKindError as error:
        raise TaskFormatError(f"{where}: field 'kind': {error}") from error
    except _FieldError as error:
        raise TaskFormatError(f"{where}: field {error.field!r}: {error}") from error
    except (TypeError, ValueError) as error:
        raise TaskFormatError(
            f"{where}: field 'metadata': {error}: give an object (or its JSON text)"
        ) from error
    try:
        return Task(**fields)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise TaskFormatError(
            f"{where}: field {field!r}: {first['msg']} (got {_short(first.get('input'))}): "
            "fix the value"
        ) from error


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
