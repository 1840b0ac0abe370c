"""Records: what collection keeps of each conversation, in plain JSON-friendly form.

A :class:`ConversationRecord` holds the task, the chosen path (``messages``, TRL's
``{"role", "content"}`` dicts) and one :class:`TurnRecord` per assistant turn: the prompt up
to the user's message, every candidate reply with its MR, components and forward samples,
and which candidate was chosen. Export turns records into TRL datasets; the LangSmith and
CollabLLM readers turn their sources into records.

Example:
    >>> from langgraph_collab import Task
    >>> record = ConversationRecord(task=Task(request="hi"), messages=[])
    >>> record.turns
    []
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from langgraph_collab.reward.scoring import MultiturnReward, best_index
from langgraph_collab.state import FidelityCounts, Message, Task, to_dicts
from langgraph_collab.tracing import RoleUsage


class SampleRecord(BaseModel):
    """One forward sample of a candidate: its future turns and score.

    Example:
        >>> SampleRecord(future=[{"role": "user", "content": "Thanks!"}], reward=0.9).reward
        0.9
    """

    future: list[Message] = Field(default_factory=list)
    components: dict[str, float] = Field(default_factory=dict)
    reward: float | None = None
    error: str | None = None
    stop_reason: str | None = None
    fidelity: FidelityCounts = Field(default_factory=FidelityCounts)


class CandidateRecord(BaseModel):
    """One candidate reply and its Multiturn-aware Reward (:meth:`from_reward` keeps a
    :class:`~langgraph_collab.reward.scoring.MultiturnReward` in JSON-friendly form).

    Example:
        >>> from langchain_core.messages import AIMessage, HumanMessage
        >>> from langgraph_collab.reward.scoring import ForwardSample, aggregate
        >>> reward = aggregate(AIMessage("Which dice?"), [ForwardSample(
        ...     candidate_index=0, sample_index=0, reward=0.7, future=[HumanMessage("Two.")])])
        >>> record = CandidateRecord.from_reward(reward, proactive=True)
        >>> record.content, record.mr, record.samples[0].future
        ('Which dice?', 0.7, [{'role': 'user', 'content': 'Two.'}])
    """

    content: str
    proactive: bool = False
    mr: float | None = None
    stderr: float = 0.0
    components: dict[str, float] = Field(default_factory=dict)
    n_failed: int = 0
    n_gave_up: int = 0
    samples: list[SampleRecord] = Field(default_factory=list)
    run_id: str | None = None

    @classmethod
    def from_reward(
        cls, reward: MultiturnReward, *, proactive: bool = False, run_id: str | None = None
    ) -> CandidateRecord:
        samples = [
            SampleRecord(
                future=to_dicts(s.future),
                components=s.components,
                reward=s.reward,
                error=s.error,
                stop_reason=s.stop_reason,
                fidelity=s.fidelity,
            )
            for s in reward.samples
        ]
        return cls(
            content=reward.candidate.text,
            proactive=proactive,
            mr=reward.mean,
            stderr=reward.stderr,
            components=reward.components,
            n_failed=reward.n_failed,
            n_gave_up=reward.n_gave_up,
            samples=samples,
            run_id=run_id,
        )


class TurnRecord(BaseModel):
    """One assistant turn: the prompt (history up to the user's message), the scored
    candidates, and the index of the chosen one (the highest MR).

    Example:
        >>> turn = TurnRecord(turn=0, prompt=[{"role": "user", "content": "Hi"}], chosen=1,
        ...                   candidates=[CandidateRecord(content="Bye.", mr=0.1),
        ...                               CandidateRecord(content="How can I help?", mr=0.9),
        ...                               CandidateRecord(content="Hm.", mr=None)])
        >>> [c.content for c in turn.best_and_worst()]
        ['How can I help?', 'Bye.']
    """

    turn: int
    prompt: list[Message]
    candidates: list[CandidateRecord]
    chosen: int

    def best_and_worst(self) -> tuple[CandidateRecord, CandidateRecord] | None:
        """The highest- and lowest-MR candidates among those with an MR (None if < 2):
        the best as :func:`~langgraph_collab.reward.scoring.best_index` ranks, the worst among
        the others (the later one on ties), so the two always differ."""
        scores = [c.mr for c in self.candidates]
        scored = [k for k, score in enumerate(scores) if score is not None]
        if len(scored) < 2:
            return None
        best = best_index(scores)
        worst = min((k for k in scored if k != best), key=lambda k: (scores[k], -k))
        return self.candidates[best], self.candidates[worst]


class ConversationRecord(BaseModel):
    """One collected conversation: its chosen path and turns, usage, why it ended
    (``stop_reason``), and the simulated user's kept and rejected turns (``fidelity``, the
    live turns and every forward sample's).

    Example:
        >>> record = ConversationRecord(
        ...     task=Task(id="t1", request="Say hi."),
        ...     messages=[{"role": "user", "content": "Hi"},
        ...               {"role": "assistant", "content": "How can I help?"}],
        ...     turns=[TurnRecord(turn=0, prompt=[{"role": "user", "content": "Hi"}], chosen=0,
        ...                       candidates=[CandidateRecord(content="How can I help?", mr=0.9)])])
        >>> record.mean_mr, record.source
        (0.9, 'collect')
    """

    task: Task
    messages: list[Message]
    turns: list[TurnRecord] = Field(default_factory=list)
    usage: dict[str, RoleUsage] = Field(default_factory=dict)
    failure: str | None = None
    stop_reason: str | None = None
    fidelity: FidelityCounts = Field(default_factory=FidelityCounts)
    source: str = "collect"
    metadata: dict[str, Any] = Field(default_factory=dict)
    containment: str | None = None  # code tasks: the sandbox's containment when scored

    @property
    def mean_mr(self) -> float | None:
        """Mean MR of the chosen replies."""
        chosen = [t.candidates[t.chosen].mr for t in self.turns]
        scored = [mr for mr in chosen if mr is not None]
        return sum(scored) / len(scored) if scored else None


def counted(record: ConversationRecord, usage: dict[str, RoleUsage]) -> ConversationRecord:
    """``record`` with ``usage`` as its usage: every call made for it in every run (a
    run folder's call ledger), where its checkpointed state counts only the calls whose
    results it kept. Calls made again after a stop are ``metadata["calls_redone"]``. A
    ledger that counts fewer calls than the state (begun after the record's first run)
    leaves the record as it is.

    Example:
        >>> record = ConversationRecord(task=Task(request="hi"), messages=[])
        >>> counted(record, {"judge": RoleUsage(calls=2)}).metadata
        {'calls_redone': 2}
    """
    kept = sum(u.calls for u in record.usage.values())
    made = sum(u.calls for u in usage.values())
    if made < kept:
        return record
    metadata = {**record.metadata, "calls_redone": made - kept} if made > kept else None
    return record.model_copy(update={"usage": usage, "metadata": metadata or record.metadata})


def _repair(path: Path) -> None:
    """Drop a torn last line (a write cut short) so appends start on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as file:
        data = file.read()
        if data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        file.truncate(cut)


def append_record(path: str | Path, record: ConversationRecord) -> None:
    """Append ``record`` as one JSONL line with a single write, then fsync: a kill leaves
    either the whole line or none of it.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "records.jsonl"
        >>> append_record(path, ConversationRecord(task=Task(id="t1", request="hi"), messages=[]))
        >>> len(path.read_text().splitlines())
        1
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (record.model_dump_json() + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"{path}: short write ({written} of {len(line)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)


def write_records(records: Sequence[ConversationRecord], path: str | Path) -> None:
    """Append each record with :func:`append_record`.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "records.jsonl"
        >>> write_records([ConversationRecord(task=Task(id=i, request="hi"), messages=[])
        ...                for i in ("t1", "t2")], path)
        >>> [record.task.id for record in read_records(path)]
        ['t1', 't2']
    """
    for record in records:
        append_record(path, record)


class DuplicateRecordError(ValueError):
    """A task recorded more than once; the message names the task, the lines and the fix.

    Example:
        >>> twice = [ConversationRecord(task=Task(id="t1", request="hi"), messages=[])] * 2
        >>> check_unique_tasks(twice)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        langgraph_collab.collection.records.DuplicateRecordError: task 't1' is in the records...
    """


def _fix(path: Path) -> str:
    return (
        "keep the first record of each task: `python -m langgraph_collab.train "
        f"repair-records {path}` (or langgraph_collab.collection.records.repair_records), "
        "which moves the original aside"
    )


def _lines(path: Path) -> list[tuple[int, str]]:
    """The non-blank lines of ``path`` with their numbers, decoded as UTF-8; a line that is
    not UTF-8 raises ``ValueError`` naming the file, the line and the fix."""
    out = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(
                f"{path}: line {number}: not UTF-8 ({error.reason} at byte {error.start}): "
                "the file was damaged or written by another program; restore it from a copy, "
                "or delete that line (its task is collected again on the next run)"
            ) from None
        if line.strip():
            out.append((number, line))
    return out


def _parse(path: Path, *, duplicates: bool) -> list[tuple[int, ConversationRecord]]:
    parsed, first_line = [], {}
    for number, line in _lines(path):
        try:
            record = ConversationRecord.model_validate_json(line)
        except ValueError as error:
            raise ValueError(
                f"{path}: line {number}: not a conversation record: {error}; restore the file "
                "from a copy, or delete that line (its task is collected again on the next run)"
            ) from error
        task_id = record.task.id
        if not duplicates and task_id in first_line:
            raise DuplicateRecordError(
                f"{path}: task {task_id!r} is recorded twice (lines {first_line[task_id]} and "
                f"{number}; two runs wrote this folder at once): {_fix(path)}"
            )
        first_line.setdefault(task_id, number)
        parsed.append((number, record))
    return parsed


def read_records(path: str | Path) -> list[ConversationRecord]:
    """The records of a JSONL file.

    Raises:
        ValueError: a line is not UTF-8 or not a record (the message names the file, the
            line and the fix); :class:`DuplicateRecordError` for a task recorded twice
            (:func:`repair_records` keeps the first).

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "records.jsonl"
        >>> write_records([ConversationRecord(task=Task(id="t1", request="hi"), messages=[])], path)
        >>> read_records(path)[0].task.id
        't1'
        >>> _ = path.write_text(path.read_text() + "not json\\n")
        >>> read_records(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: ...records.jsonl: line 2: not a conversation record: ...
    """
    return [record for _, record in _parse(Path(path), duplicates=False)]


def repair_records(path: str | Path) -> list[str]:
    """Keep the first record of each task in ``path``, dropping later ones; the original
    is kept as ``<name>.bak`` and the file replaced at once (``os.replace``). Returns the
    dropped task ids, one per dropped line (empty: nothing to repair, file untouched).

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "records.jsonl"
        >>> write_records([ConversationRecord(task=Task(id=i, request="hi"), messages=[])
        ...                for i in ("t1", "t2", "t1")], path)
        >>> repair_records(path), [r.task.id for r in read_records(path)]
        (['t1'], ['t1', 't2'])
        >>> path.with_name("records.jsonl.bak").exists()
        True
    """
    path = Path(path)
    _repair(path)
    lines = dict(_lines(path))
    kept, dropped, seen = [], [], set()
    for number, record in _parse(path, duplicates=True):
        if record.task.id in seen:
            dropped.append(record.task.id)
        else:
            kept.append(lines[number])
            seen.add(record.task.id)
    if not dropped:
        return []
    shutil.copy2(path, path.with_name(path.name + ".bak"))
    fresh = path.with_name(path.name + ".repaired")
    with open(fresh, "w", encoding="utf-8") as file:
        file.writelines(line + "\n" for line in kept)
        file.flush()
        os.fsync(file.fileno())
    os.replace(fresh, path)
    return dropped


def check_unique_tasks(records: Sequence[ConversationRecord]) -> None:
    """Raise :class:`DuplicateRecordError` if a task appears in ``records`` twice (training
    data would weigh it double, and two runs' turns would mix).

    Example:
        >>> check_unique_tasks([])
    """
    first: dict[str, int] = {}
    for index, record in enumerate(records):
        task_id = record.task.id
        if task_id in first:
            raise DuplicateRecordError(
                f"task {task_id!r} is in the records twice (records {first[task_id]} and "
                f"{index}, counting from 0): keep the first record of each task (for a file, "
                "`python -m langgraph_collab.train repair-records PATH` or "
                "langgraph_collab.collection.records.repair_records)"
            )
        first[task_id] = index


def recorded_task_ids(path: str | Path) -> set[str]:
    """Task ids already recorded in ``path``, after dropping a torn last line: call it
    before appending again to a file a killed run may have been writing. A task recorded
    twice is no obstacle here (it is recorded): reading the file for export refuses it.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "records.jsonl"
        >>> write_records([ConversationRecord(task=Task(id="t1", request="hi"), messages=[])], path)
        >>> _ = path.open("a").write('{"task": {"id": "t2"')  # a write a kill cut short
        >>> recorded_task_ids(path)
        {'t1'}
    """
    path = Path(path)
    if not path.exists():
        return set()
    _repair(path)
    return {record.task.id for _, record in _parse(path, duplicates=True)}
