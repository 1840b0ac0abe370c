"""Checks on the files a run writes, made before any work: the output folder and a
checkpoint database left by an earlier run.

Both raise a ``ValueError`` subclass whose message names the path and what to do, instead
of a raw ``sqlite3`` or ``OSError`` traceback minutes into a run.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from langgraph_collab.collection.storage import check_checkpoint_db, prepare_out_dir
    >>> out = prepare_out_dir(Path(tempfile.mkdtemp()) / "run" / "collect")
    >>> out.is_dir()
    True
    >>> check_checkpoint_db(out / "checkpoints.sqlite")  # absent: nothing to check
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from pathlib import Path

CHECKPOINT_TABLES = frozenset({"checkpoints", "writes"})
"""The tables LangGraph's ``SqliteSaver`` keeps."""


class OutputDirError(ValueError):
    """An output folder that cannot be created or written to.

    Example:
        >>> import tempfile
        >>> file = tempfile.NamedTemporaryFile()
        >>> try:
        ...     prepare_out_dir(file.name)
        ... except OutputDirError as error:
        ...     print(str(error).endswith("(move the file away)"))
        True
    """


class CheckpointFileError(ValueError):
    """A checkpoint database that is not SQLite, is corrupt, or is not LangGraph's.

    Example:
        >>> import tempfile
        >>> try:
        ...     check_checkpoint_db(tempfile.mkdtemp())
        ... except CheckpointFileError as error:
        ...     print("is a folder" in str(error))
        True
    """


def prepare_out_dir(path: str | Path) -> Path:
    """Create ``path`` (and its parents) and prove it writable by creating and removing a
    file in it; returns it as a :class:`~pathlib.Path`.

    Raises:
        OutputDirError: ``path`` or a parent is a file, or the folder cannot be created or
            written to (permissions, read-only or full disk); the message names the path.

    Example:
        >>> prepare_out_dir("/dev/null/run")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        langgraph_collab.collection.storage.OutputDirError: Cannot use /dev/null/run as an ...
    """
    path = Path(path).expanduser()
    where = f"Cannot use {path} as an output folder"
    fix = "choose another folder (--output-dir) or fix that path"
    if path.exists() and not path.is_dir():
        raise OutputDirError(f"{where}: it is a file; {fix} (move the file away)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except (NotADirectoryError, FileExistsError) as error:
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), path)
        raise OutputDirError(f"{where}: a part of it is a file ({blocker}); {fix}") from error
    except PermissionError as error:
        raise OutputDirError(
            f"{where}: permission denied; {fix} (e.g. chmod u+w), or run as a user who may "
            "write there"
        ) from error
    except OSError as error:
        raise OutputDirError(f"{where}: {error.strerror or error}; {fix}") from error
    return path


def check_checkpoint_db(path: str | Path) -> None:
    """Check that ``path``, if it exists, is a healthy LangGraph SQLite checkpoint database.

    It is opened read-only (never modified, never deleted): ``PRAGMA quick_check`` must
    pass and its tables, if any, must include LangGraph's ``checkpoints`` and ``writes``.
    An absent or empty file is fine (the checkpointer creates it).

    Raises:
        CheckpointFileError: the file is a folder, not SQLite, corrupt, locked, unreadable
            or another program's database; the message names it and says to move it away
            or delete it to start afresh.

    Example:
        >>> import tempfile
        >>> bad = Path(tempfile.mkdtemp()) / "checkpoints.sqlite"
        >>> _ = bad.write_text("not a database")
        >>> check_checkpoint_db(bad)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        langgraph_collab.collection.storage.CheckpointFileError: .../checkpoints.sqlite is ...
    """
    path = Path(path).expanduser()
    if not path.exists():
        return
    fresh = (
        "move it away (or delete it) to start afresh, losing the progress it holds; it was "
        "left untouched"
    )
    if path.is_dir():
        raise CheckpointFileError(f"{path} is a folder, not a checkpoint database: {fresh}")
    try:
        with contextlib.closing(_read_only(path)) as connection:
            check = [row[0] for row in connection.execute("PRAGMA quick_check")]
            query = "SELECT name FROM sqlite_master WHERE type = 'table'"
            tables = {row[0] for row in connection.execute(query)}
    except sqlite3.Error as error:
        reason = str(error)
        if "locked" in reason or "busy" in reason:
            raise CheckpointFileError(
                f"{path} is locked by another process ({reason}): wait for the other run to "
                "finish or stop it, then run again"
            ) from error
        raise CheckpointFileError(
            f"{path} is not a usable SQLite checkpoint database ({reason}): {fresh}"
        ) from error
    if check != ["ok"]:
        raise CheckpointFileError(
            f"{path} is a corrupt SQLite database ({'; '.join(check[:3])}): {fresh}"
        )
    if tables and not tables >= CHECKPOINT_TABLES:
        raise CheckpointFileError(
            f"{path} is an SQLite database but not LangGraph's checkpoints (tables: "
            f"{', '.join(sorted(tables))}): {fresh}"
        )


def _read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection that never creates or changes the file."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


__all__ = ["CheckpointFileError", "OutputDirError", "check_checkpoint_db", "prepare_out_dir"]
