"""A run folder's call ledger: every chat-model call of every run, kills included.

Checkpointed state counts the calls whose results it kept; a run killed mid-turn made
calls whose results were lost, and its resume makes them again. :class:`CallLedger`
appends one line per call start and one per end to ``usage.jsonl`` in the run folder
(``os.write`` on an append-only descriptor: a SIGKILL loses no line the process wrote,
only a machine crash can), so the folder's totals are every call any run made: a call
counts from its start (a call in flight at a kill was sent, and may be billed), and a
call a cache answered counts as a cache hit once it ends.

Lines are JSON arrays: ``["run", n, pid]`` when a run opens the ledger,
``["start", n, task, role]``, ``["end", n, task, role, input_tokens, output_tokens,
cache_hit, cached_input_tokens]`` (the last one absent from older ledgers),
``["error", n, task, role]``.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> ledger = CallLedger(Path(tempfile.mkdtemp()) / "usage.jsonl")
    >>> ledger.runs, ledger.by_role()
    (1, {})
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

from langgraph_collab.tracing import (
    RoleUsage,
    cached_input_of,
    is_cache_hit,
    role_of,
    usage_of,
)

Key = tuple[Any, str]
"""``(task id, role)``."""


def _events(path: Path) -> Iterator[list[Any]]:
    """The ledger's events; a last line a kill cut short is cut off the file first (so
    appends start on a fresh line), and its event is not counted."""
    if not path.exists():
        return
    with path.open("rb+") as file:
        data = file.read()
        if data and not data.endswith(b"\n"):
            file.truncate(data.rfind(b"\n") + 1)
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            try:
                event = json.loads(raw)
            except ValueError as error:
                raise ValueError(
                    f"{path}: line {number}: not a call ledger line ({error}): delete the "
                    "file to start the ledger afresh (the records are unaffected)"
                ) from None
            yield event


class CallLedger(BaseCallbackHandler):
    """Counts every chat-model call per task and role into ``path`` (see the module
    docstring), on top of what earlier runs wrote there. Attach it after any call gate:
    a call counts once it may start."""

    run_inline = True
    ignore_chain = ignore_retriever = ignore_agent = ignore_retry = True

    def __init__(self, path: str | Path, *, group_by: str = "task_id") -> None:
        self.path, self.group_by = Path(path), group_by
        self._lock = threading.Lock()
        self._open: dict[UUID, Key] = {}
        self._total: dict[Key, RoleUsage] = {}
        self._started: dict[Key, int] = {}
        self._ended: dict[Key, int] = {}
        self.runs = 0
        for event in _events(self.path):
            self._count(event)
        self.runs += 1
        self.run = self.runs
        self.this_run: dict[str, RoleUsage] = {}
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._write(["run", self.run, os.getpid()])

    def _count(self, event: list[Any]) -> RoleUsage | None:
        kind = event[0]
        if kind == "run":
            self.runs = max(self.runs, event[1])
            return None
        key: Key = (event[2], event[3])
        if kind == "start":
            self._started[key] = self._started.get(key, 0) + 1
            usage = RoleUsage(calls=1)
        else:
            self._ended[key] = self._ended.get(key, 0) + 1
            if kind == "error":
                usage = RoleUsage(errors=1)
            elif event[6]:  # a cache hit: no call after all, no tokens
                usage = RoleUsage(calls=-1, cache_hits=1)
            else:
                cached = event[7] if len(event) > 7 else 0
                usage = RoleUsage(
                    input_tokens=event[4], output_tokens=event[5], cached_input_tokens=cached
                )
        self._total[key] = self._total.get(key, RoleUsage()) + usage
        return usage

    def _write(self, event: list[Any]) -> None:
        os.write(self._fd, (json.dumps(event) + "\n").encode())

    def _record(self, event: list[Any]) -> None:
        with self._lock:
            self._write(event)
            usage = self._count(event)
            if usage is not None:
                role = event[3]
                self.this_run[role] = self.this_run.get(role, RoleUsage()) + usage

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        key = ((metadata or {}).get(self.group_by), role_of(tags))
        self._open[run_id] = key
        self._record(["start", self.run, *key])

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        key = self._open.pop(run_id, None)
        if key is not None:
            tokens, cached = usage_of(response), cached_input_of(response)
            self._record(["end", self.run, *key, *tokens, is_cache_hit(response), cached])

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        key = self._open.pop(run_id, None)
        if key is not None:
            self._record(["error", self.run, *key])

    def close(self) -> None:
        os.close(self._fd)

    def by_role(self, task: Any = None) -> dict[str, RoleUsage]:
        """Usage per role over every run: of all tasks, or of ``task``."""
        totals: dict[str, RoleUsage] = {}
        with self._lock:
            for (key, role), usage in self._total.items():
                if task is None or key == task:
                    totals[role] = totals.get(role, RoleUsage()) + usage
        return totals

    @property
    def cut_short(self) -> int:
        """Calls that started and never ended in the run that made them: in flight when
        a run was killed (or still in flight now)."""
        with self._lock:
            return sum(self._started.values()) - sum(self._ended.values()) - len(self._open)


__all__ = ["CallLedger"]
