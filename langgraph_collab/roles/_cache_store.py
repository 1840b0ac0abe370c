"""The stores behind the call cache (:mod:`langgraph_collab.roles.cache`): replies as JSON, kept
in memory or in an SQLite file of ours, under a hash of the prompt and the model's settings.

Example:
    >>> store = MemoryCallCache()
    >>> store.lookup("prompt", "model settings") is None
    True
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.messages import messages_from_dict
from langchain_core.outputs import ChatGeneration

from langgraph_collab.tracing import CACHE_HIT

APPLICATION_ID = 0x4C47434C  # "LGCL", in the SQLite header: the file is ours
SCHEMA_VERSION = 1


class CallCacheFileError(ValueError):
    """A call-cache file that is not SQLite, is corrupt, or is another program's database."""


def key_of(prompt: str, llm_string: str) -> str:
    """The stored key: a SHA-256 of both parts (no prompt text or setting is stored)."""
    return hashlib.sha256(f"{len(llm_string)}:{llm_string}\n{prompt}".encode()).hexdigest()


def _encode(generations: Sequence[Any]) -> str | None:
    """The replies as JSON, or None when one is not a chat generation (not cached)."""
    items = []
    for generation in generations:
        if not isinstance(generation, ChatGeneration):
            return None
        message = generation.message.model_dump()
        items.append({"message": message, "generation_info": generation.generation_info})
    return json.dumps(items, default=str)


def _decode(text: str) -> list[ChatGeneration]:
    """Fresh replies from stored JSON, each marked as a cache hit."""
    out = []
    for item in json.loads(text):
        data = item["message"]
        message = messages_from_dict([{"type": data["type"], "data": data}])[0]
        message.response_metadata = {**message.response_metadata, CACHE_HIT: True}
        info = {**(item.get("generation_info") or {}), CACHE_HIT: True}
        out.append(ChatGeneration(message=message, generation_info=info))
    return out


class MemoryCallCache(BaseCache):
    """Replies kept in this process's memory, as JSON (every hit gets fresh objects).
    Thread-safe; the first reply stored for a key is kept.

    Example:
        >>> cache = MemoryCallCache(max_entries=1000)
        >>> len(cache)
        0
    """

    def __init__(self, *, max_entries: int | None = None) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        with self._lock:
            text = self._entries.get(key_of(prompt, llm_string))
        return None if text is None else _decode(text)

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        text = _encode(return_val)
        if text is None:
            return
        with self._lock:
            self._entries.setdefault(key_of(prompt, llm_string), text)
            while self.max_entries is not None and len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def replace(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store ``return_val`` over any reply stored for the same call."""
        text = _encode(return_val)
        if text is None:
            return
        with self._lock:
            key = key_of(prompt, llm_string)
            self._entries[key] = text
            self._entries.move_to_end(key)

    def clear(self, **kwargs: Any) -> None:
        with self._lock:
            self._entries.clear()

    # In memory: no executor round trip for the async side.
    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        return self.lookup(prompt, llm_string)

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        self.update(prompt, llm_string, return_val)

    async def aclear(self, **kwargs: Any) -> None:
        self.clear()


class SQLiteCallCache(BaseCache):
    """Replies kept in an SQLite file (stdlib ``sqlite3``), across runs and processes.

    One connection per cache object, serialised by a lock (thread-safe; async calls run
    in a worker thread); each write is one transaction, so a kill leaves the file whole.
    Processes sharing the file wait for each other's writes (30 s at most). The file is
    checked when opened: a folder, a file that is not SQLite, a corrupt one or another
    program's database raises :class:`CallCacheFileError` and is left untouched (as does
    damage found later, when read).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> cache = SQLiteCallCache(Path(tempfile.mkdtemp()) / "calls.sqlite")
        >>> len(cache)
        0
    """

    def __init__(self, path: str | Path, *, max_entries: int | None = None) -> None:
        self.path = Path(path).expanduser()
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._connection = _open(self.path)

    def _run(self, statements: Sequence[tuple[str, tuple]], *, write: bool) -> list[Any]:
        with self._lock:
            try:
                if not write:
                    return self._connection.execute(*statements[0]).fetchall()
                self._connection.execute("BEGIN IMMEDIATE")
                try:
                    for statement in statements:
                        self._connection.execute(*statement)
                except BaseException:
                    _rollback(self._connection)
                    raise
                self._connection.execute("COMMIT")
                return []
            except sqlite3.Error as error:
                raise _file_error(self.path, error) from error

    def __len__(self) -> int:
        return self._run([("SELECT count(*) FROM calls", ())], write=False)[0][0]

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        query = ("SELECT value FROM calls WHERE key = ?", (key_of(prompt, llm_string),))
        rows = self._run([query], write=False)
        return _decode(rows[0][0]) if rows else None

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        text = _encode(return_val)
        if text is None:
            return
        key = key_of(prompt, llm_string)
        statements = [("INSERT OR IGNORE INTO calls (key, value) VALUES (?, ?)", (key, text))]
        if self.max_entries is not None:
            drop = "DELETE FROM calls WHERE id <= (SELECT max(id) FROM calls) - ?"
            statements.append((drop, (self.max_entries,)))
        self._run(statements, write=True)

    def replace(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store ``return_val`` over any reply stored for the same call."""
        text = _encode(return_val)
        if text is None:
            return
        key = key_of(prompt, llm_string)
        drop = ("DELETE FROM calls WHERE key = ?", (key,))
        self._run([drop, ("INSERT INTO calls (key, value) VALUES (?, ?)", (key, text))], write=True)

    def clear(self, **kwargs: Any) -> None:
        self._run([("DELETE FROM calls", ())], write=True)

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        return await asyncio.to_thread(self.lookup, prompt, llm_string)

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        await asyncio.to_thread(self.update, prompt, llm_string, return_val)

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def _file_error(path: Path, error: sqlite3.Error) -> CallCacheFileError:
    reason = str(error)
    if "locked" in reason or "busy" in reason:
        return CallCacheFileError(
            f"call cache {path} is locked by another process ({reason}): let it finish, or "
            "give this run its own cache file"
        )
    return CallCacheFileError(
        f"call cache {path} is not a usable call cache ({reason}): move it away or delete "
        "it (the replies it holds are only a cache), or give another path"
    )


def _open(path: Path) -> sqlite3.Connection:
    """A connection to the call-cache file ``path``, created (with its folder) if absent."""
    if path.is_dir():
        raise CallCacheFileError(f"call cache {path} is a folder: give a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as error:
        raise CallCacheFileError(f"call cache {path} cannot be opened: {error}") from error
    try:
        _prepare(connection, path)
    except BaseException:
        connection.close()
        raise
    return connection


def _prepare(connection: sqlite3.Connection, path: Path) -> None:
    """Check the file is ours (or empty, then make it ours)."""
    try:
        application_id, version, tables = _header(connection)
        if not tables:
            connection.execute("BEGIN IMMEDIATE")  # another process may be creating it too
            try:
                application_id, version, tables = _header(connection)
                if not tables:
                    connection.execute(
                        "CREATE TABLE calls (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                        "key TEXT NOT NULL UNIQUE, value TEXT NOT NULL)"
                    )
                    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    application_id, version, tables = APPLICATION_ID, SCHEMA_VERSION, {"calls"}
            except BaseException:
                _rollback(connection)
                raise
            connection.execute("COMMIT")
    except sqlite3.Error as error:
        raise _file_error(path, error) from error
    if application_id != APPLICATION_ID or "calls" not in tables:
        raise CallCacheFileError(
            f"call cache {path} is an SQLite database but not a langgraph-collab call cache "
            f"(tables: {', '.join(sorted(tables))}); it was left untouched: give another path"
        )
    if version > SCHEMA_VERSION:
        raise CallCacheFileError(
            f"call cache {path} was written by a newer langgraph-collab (format {version}, "
            f"this one reads {SCHEMA_VERSION}): upgrade, or give another path"
        )


def _header(connection: sqlite3.Connection) -> tuple[int, int, set[str]]:
    application_id = connection.execute("PRAGMA application_id").fetchone()[0]
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    tables = {row[0] for row in connection.execute(query)}
    return application_id, version, tables


def _rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:  # SQLite may have rolled back already (a full disk...)
        connection.execute("ROLLBACK")
