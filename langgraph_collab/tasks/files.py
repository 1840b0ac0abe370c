"""Task rows from local files (``.jsonl``, ``.json``, ``.parquet``), and where a task-set
name points: a bundled set, a local file or a Hub dataset.

Every failure is a :class:`~langgraph_collab.tasks.formats.TaskFormatError` (or a
``FileNotFoundError``) naming the file, the line or row, and the fix. UTF-8 with or without
a byte-order mark loads; UTF-16 and binary files are refused with the fix.

Example:
    >>> from langgraph_collab.tasks.files import source_kind
    >>> source_kind("math"), source_kind("lighteval/MATH-Hard")
    ('bundled', 'hub')
    >>> source_kind("data/missing.jsonl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: Task file not found: data/missing.jsonl ...
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any, Literal

from langgraph_collab.tasks.formats import TaskFormatError
from langgraph_collab.tasks.kinds import KINDS

SUFFIXES = (".jsonl", ".json", ".parquet")
DATA_SUFFIXES = (*SUFFIXES, ".csv", ".tsv", ".txt", ".arrow", ".yaml", ".yml", ".gz", ".zip")
"""File endings that mark a name as a local path, never a Hub dataset id."""
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
SAVE_AS = (
    "save the tasks as .jsonl (one JSON object per line), .json (a list of objects) or .parquet"
)


def looks_local(name: str) -> bool:
    """Whether ``name`` can only mean a local path (so a missing one is never tried on the
    Hub): a data-file ending, a ``./ ../ / ~`` start, a backslash, several slashes, or a
    first part that is an existing folder here."""
    if name.lower().endswith(DATA_SUFFIXES) or name.startswith(("./", "../", "/", "~", ".\\")):
        return True
    if "\\" in name or name.count("/") > 1 or Path(name).is_absolute():
        return True
    return "/" in name and Path(name.split("/")[0]).is_dir()


def source_kind(name: str) -> Literal["bundled", "file", "hub"]:
    """Where a task-set name points; ``FileNotFoundError`` (at once, no Hub attempt) for a
    local path that does not exist or a name that is nothing known."""
    if name in KINDS:
        return "bundled"
    if Path(name).expanduser().exists():
        return "file"
    cwd = Path.cwd()
    if looks_local(name):
        raise FileNotFoundError(
            f"Task file not found: {name} (looked at {Path(name).expanduser().absolute()}, "
            f"working folder {cwd}): check the path, or give a bundled set "
            f"({', '.join(KINDS)}) or a Hub dataset id such as owner/name"
        )
    if HUB_ID.fullmatch(name):
        return "hub"
    close = difflib.get_close_matches(name, KINDS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise FileNotFoundError(
        f"No task set {name!r}: not a bundled set ({', '.join(KINDS)}), not an existing file "
        f"(relative to {cwd}), not a Hub dataset id (owner/name); {hint}Give one of those"
    )


def read_text(path: Path) -> str:
    """The file's text: UTF-8, with or without a byte-order mark."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:4096]:
        raise TaskFormatError(
            f"{path}: the file is UTF-16 or binary, not UTF-8 text: re-save it as UTF-8 "
            f"(e.g. iconv -f UTF-16 -t UTF-8), or {SAVE_AS}"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise TaskFormatError(
            f"{path}: line {line}: not UTF-8 text (byte {data[error.start]:#04x} at offset "
            f"{error.start}): re-save the file as UTF-8"
        ) from error


def read_json_lines(text: str, source: str) -> list[Any]:
    """One JSON value per non-blank line."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            hint = "each line must be one complete JSON object: fix or remove this line"
            if number == 1 and line.strip() in ("[", "{"):
                hint = "this looks like one multi-line JSON document: rename the file to .json"
            raise TaskFormatError(
                f"{source}: row {number}: not valid JSON (line {number}, column {error.colno}: "
                f"{error.msg}): {hint}"
            ) from error
    return rows


def _read_json(text: str, source: str) -> list[Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise TaskFormatError(
            f"{source}: line {error.lineno}, column {error.colno}: not valid JSON "
            f"({error.msg}): fix the file (a .json file holds one list of task objects; use "
            ".jsonl for one object per line)"
        ) from error
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise TaskFormatError(
            f"{source}: expected a list of task objects, got a JSON {type(data).__name__}: "
            'write [{"id": "t1", "request": "..."}, ...]'
        )
    return data


def _read_parquet(path: Path) -> list[Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as error:
        raise ImportError("Reading Parquet needs pyarrow: pip install pyarrow") from error
    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as error:
        raise TaskFormatError(
            f"{path}: not a readable Parquet file ({error}): write it again with "
            "pyarrow/pandas/datasets, or use .jsonl"
        ) from error


def read_rows(path: Path) -> list[Any]:
    """The rows of a local task file; at least one.

    Raises:
        TaskFormatError: a folder, an unsupported ending, a file that does not decode or
            parse (naming the line), or a file with no rows.
    """
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() in SUFFIXES)[:5]
        listing = f" (it holds {', '.join(inside)})" if inside else ""
        raise TaskFormatError(f"{path} is a folder, not a task file{listing}: give one file")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = read_json_lines(read_text(path), str(path))
    elif suffix == ".json":
        rows = _read_json(read_text(path), str(path))
    elif suffix == ".parquet":
        rows = _read_parquet(path)
    else:
        raise TaskFormatError(f"{path}: unsupported file type {suffix or '(none)'!r}: {SAVE_AS}")
    if not rows:
        raise TaskFormatError(f"{path}: no tasks in this file (it is empty): {SAVE_AS}")
    return rows
