"""Export: collected records -> TRL datasets (SFT, DPO, prompts) and CollabLLM's flat rows.

Every dataset is a ``datasets.Dataset`` in TRL's conversational formats, ready for the trainer
that consumes it unchanged: :func:`sft_dataset` for ``SFTTrainer`` (``messages``),
:func:`dpo_dataset` for ``DPOTrainer`` (``prompt`` / ``chosen`` / ``rejected``) and
:func:`prompt_dataset` for ``GRPOTrainer`` or online DPO (``prompt`` plus the task's fields as
columns, which TRL passes to reward functions as keyword arguments). ``datasets`` is imported
only when a dataset is built, so ``import langgraph_collab`` stays light.

Example:
    >>> from langgraph_collab import Task
    >>> from langgraph_collab.collection.records import (
    ...     CandidateRecord, ConversationRecord, TurnRecord)
    >>> prompt = [{"role": "user", "content": "help me with a dice question"}]
    >>> turn = TurnRecord(turn=0, prompt=prompt, chosen=0, candidates=[
    ...     CandidateRecord(content="Sure, which dice?", mr=0.8),
    ...     CandidateRecord(content="The answer is 1/2.", mr=0.1)])
    >>> record = ConversationRecord(task=Task(id="d1", request="P(sum=7)?", reference="1/6"),
    ...     messages=[*prompt, {"role": "assistant", "content": "Sure, which dice?"}],
    ...     turns=[turn])
    >>> dpo_dataset([record])[0]["rejected"]
    [{'role': 'assistant', 'content': 'The answer is 1/2.'}]
    >>> sorted(export_datasets([record], "/tmp/collab-export"))  # doctest: +SKIP
    ['dpo', 'prompts', 'sft']
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from langgraph_collab.collection.records import (
    CandidateRecord,
    ConversationRecord,
    TurnRecord,
    check_unique_tasks,
)
from langgraph_collab.collection.storage import prepare_out_dir
from langgraph_collab.reward.scoring import best_index
from langgraph_collab.state import Message, Task
from langgraph_collab.tasks.formats import last_boxed

if TYPE_CHECKING:
    from datasets import Dataset

_GAP_TOLERANCE = 1e-9  # so that a gap of exactly min_gap survives float rounding
_COLLABLLM_REQUIRED = ("prompt", "completion", "conv_id", "score", "single_turn_prompt")


_TASK_COLUMNS = "task_id kind request reference metadata description opening"
_SCHEMAS = {  # column -> type; "messages" is a list of {"role", "content"} dicts
    "sft": {"messages": "messages", "task_id": "string", "kind": "string", "score": "float64"},
    "dpo": {"prompt": "messages", "chosen": "messages", "rejected": "messages"}
    | {"chosen_score": "float64", "rejected_score": "float64"}
    | {"task_id": "string", "turn": "int64"},
    "prompts": {"prompt": "messages"} | dict.fromkeys(_TASK_COLUMNS.split(), "string"),
}


def _dataset(kind: str, rows: Sequence[Mapping[str, Any]]) -> Dataset:
    """A dataset with the schema of ``kind`` (columns present even with zero rows)."""
    from datasets import Dataset, Features, List, Value

    message = List({"role": Value("string"), "content": Value("string")})
    schema = _SCHEMAS[kind]
    features = Features({c: message if t == "messages" else Value(t) for c, t in schema.items()})
    columns = {name: [row[name] for row in rows] for name in schema}
    return Dataset.from_dict(columns, features=features)


def _task_columns(task: Task) -> dict[str, str]:
    return {
        "task_id": task.id,
        "kind": task.kind,
        "request": task.request,
        "reference": task.reference or "",
        "metadata": json.dumps(task.metadata, sort_keys=True, default=str),
        "description": task.description,
        "opening": task.opening or "",
    }


def sft_dataset(
    records: Iterable[ConversationRecord], *, min_score: float | None = None
) -> Dataset:
    """The chosen path of each conversation, for ``trl.SFTTrainer``.

    Columns: ``messages`` (trailing non-assistant messages, e.g. the user's closing
    ``[[TERMINATE CHAT]]``, are dropped: nothing follows them to learn), ``task_id``,
    ``kind`` and ``score`` (the record's mean chosen MR, None when unscored). Skipped: failed
    records, records with fewer than 2 messages left or no assistant reply, and, when
    ``min_score`` is set, records whose score is None or below it.

    Example:
        >>> rows = [{"prompt": [{"role": "user", "content": "Hi"}], "completion": reply,
        ...          "conv_id": "c1", "score": mr, "single_turn_prompt": "Say hi."}
        ...         for reply, mr in [("Hello! What do you need?", 0.9), ("Bye.", 0.1)]]
        >>> records = records_from_collabllm(rows)
        >>> sft_dataset(records)[0]["messages"][-1]
        {'role': 'assistant', 'content': 'Hello! What do you need?'}
        >>> len(sft_dataset(records, min_score=0.95))
        0
    """
    rows = []
    for record in records:
        score = record.mean_mr
        if record.failure or (min_score is not None and (score is None or score < min_score)):
            continue
        messages = list(record.messages)
        while messages and messages[-1]["role"] != "assistant":
            messages.pop()
        if len(messages) < 2:
            continue
        task = record.task
        rows.append({"messages": messages, "task_id": task.id, "kind": task.kind, "score": score})
    return _dataset("sft", rows)


def dpo_dataset(records: Iterable[ConversationRecord], *, min_gap: float = 0.05) -> Dataset:
    """One preference pair per turn, for ``trl.DPOTrainer``: the highest- vs the lowest-MR
    candidate, kept when their MR gap is at least ``min_gap`` and their texts differ.

    Columns: ``prompt`` (the history up to and including the user's message), ``chosen`` and
    ``rejected`` (one assistant message each), ``chosen_score``, ``rejected_score``,
    ``task_id`` and ``turn``.

    Example:
        >>> rows = [{"prompt": [{"role": "user", "content": "Hi"}], "completion": reply,
        ...          "conv_id": "c1", "score": mr, "single_turn_prompt": "Say hi."}
        ...         for reply, mr in [("Hello! What do you need?", 0.9), ("Bye.", 0.1)]]
        >>> records = records_from_collabllm(rows)
        >>> pair = dpo_dataset(records)[0]
        >>> pair["chosen"][0]["content"], pair["rejected"][0]["content"], pair["chosen_score"]
        ('Hello! What do you need?', 'Bye.', 0.9)
        >>> len(dpo_dataset(records, min_gap=0.9))
        0
    """
    rows = []
    for record in records:
        for turn in record.turns:
            pair = turn.best_and_worst()
            if pair is None:
                continue
            best, worst = pair
            if best.mr - worst.mr < min_gap - _GAP_TOLERANCE or best.content == worst.content:
                continue
            rows.append(
                {
                    "prompt": turn.prompt,
                    "chosen": [{"role": "assistant", "content": best.content}],
                    "rejected": [{"role": "assistant", "content": worst.content}],
                    "chosen_score": best.mr,
                    "rejected_score": worst.mr,
                    "task_id": record.task.id,
                    "turn": turn.turn,
                }
            )
    return _dataset("dpo", rows)


def prompt_dataset(
    records: Iterable[ConversationRecord] | None = None, *, tasks: Iterable[Task] | None = None
) -> Dataset:
    """Prompts for online training (``trl.GRPOTrainer``, online DPO).

    From ``records``: one row per turn, ``prompt`` = the turn's prompt messages. From
    ``tasks``: one row per task, ``prompt`` = its opening (or request) as a user message.
    Both sets of rows carry the task as string columns a reward function reads (TRL passes
    every extra column as a keyword argument): ``task_id``, ``kind``, ``request``,
    ``reference`` and ``opening`` ("" when None), ``metadata`` (JSON) and ``description``.

    Example:
        >>> row = prompt_dataset(tasks=[Task(kind="math", request="2+2?", reference="4")])[0]
        >>> row["prompt"], row["kind"], row["reference"]
        ([{'role': 'user', 'content': '2+2?'}], 'math', '4')
    """
    if records is None and tasks is None:
        raise ValueError("prompt_dataset needs records, tasks=, or both")
    rows = []
    for record in records or ():
        columns = _task_columns(record.task)
        rows.extend({"prompt": turn.prompt, **columns} for turn in record.turns)
    for task in tasks or ():
        prompt = [{"role": "user", "content": task.opening or task.request}]
        rows.append({"prompt": prompt, **_task_columns(task)})
    return _dataset("prompts", rows)


def export_datasets(
    records: Iterable[ConversationRecord],
    out_dir: str | os.PathLike[str],
    *,
    min_gap: float = 0.05,
    min_score: float | None = None,
) -> dict[str, Dataset]:
    """Build the ``"sft"``, ``"dpo"`` and ``"prompts"`` datasets, save each under ``out_dir``
    both with ``save_to_disk`` (``out_dir/NAME``) and as ``out_dir/NAME.jsonl``, and return
    them by name. Empty datasets are saved too, with their columns. A task recorded twice
    raises :class:`~langgraph_collab.collection.records.DuplicateRecordError` (keep the first).

    Example:
        >>> import tempfile
        >>> rows = [{"prompt": [{"role": "user", "content": "Hi"}], "completion": reply,
        ...          "conv_id": "c1", "score": mr, "single_turn_prompt": "Say hi."}
        ...         for reply, mr in [("Hello! What do you need?", 0.9), ("Bye.", 0.1)]]
        >>> records = records_from_collabllm(rows)
        >>> out = tempfile.mkdtemp()
        >>> {name: len(data) for name, data in export_datasets(records, out).items()}
        {'sft': 1, 'dpo': 1, 'prompts': 1}
        >>> import os
        >>> sorted(os.listdir(out))
        ['dpo', 'dpo.jsonl', 'prompts', 'prompts.jsonl', 'sft', 'sft.jsonl']
    """
    records = list(records)
    check_unique_tasks(records)
    out = prepare_out_dir(out_dir)
    built = {
        "sft": sft_dataset(records, min_score=min_score),
        "dpo": dpo_dataset(records, min_gap=min_gap),
        "prompts": prompt_dataset(records),
    }
    for name, dataset in built.items():
        # datasets writes zero shards for an empty dataset, which load_from_disk cannot read
        dataset.save_to_disk(str(out / name), num_shards=1 if len(dataset) == 0 else None)
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as file:
            file.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in dataset)
    return built


def _sample_rewards(candidate: CandidateRecord) -> dict[str, list[float | None]]:
    names = sorted({name for sample in candidate.samples for name in sample.components})
    return {name: [s.components.get(name) for s in candidate.samples] for name in names}


def collabllm_rows(records: Iterable[ConversationRecord]) -> list[dict[str, Any]]:
    """Records as the flat rows of the published CollabLLM datasets, one row per turn.

    ``completion`` and ``score`` are the chosen reply and its MR; ``sessions`` and
    ``rewards`` hold, per candidate, its forward samples' future messages and a dict
    metric -> per-sample values (None for a failed sample).

    Example:
        >>> rows = [{"prompt": [{"role": "user", "content": "Hi"}], "completion": reply,
        ...          "conv_id": "c1", "score": mr, "single_turn_prompt": "Say hi."}
        ...         for reply, mr in [("Hello! What do you need?", 0.9), ("Bye.", 0.1)]]
        >>> records = records_from_collabllm(rows)
        >>> row = collabllm_rows(records)[0]
        >>> row["completion"], row["score"], row["conv_id"]
        ('Hello! What do you need?', 0.9, 'c1')
    """
    rows = []
    for record in records:
        task = record.task
        for turn in record.turns:
            chosen = turn.candidates[turn.chosen]
            rows.append(
                {
                    "prompt": turn.prompt,
                    "completion": chosen.content,
                    "conv_id": task.id,
                    "turn_id": turn.turn,
                    "score": chosen.mr,
                    "single_turn_prompt": task.request,
                    "single_turn_completion": task.reference or "",
                    "single_turn_metadata": {**task.metadata, "kind": task.kind},
                    "sessions": [[s.future for s in c.samples] for c in turn.candidates],
                    "rewards": [_sample_rewards(c) for c in turn.candidates],
                }
            )
    return rows


def _collabllm_task(row: Mapping[str, Any], kind: str | None, index: int) -> Task:
    metadata = row.get("single_turn_metadata") or {}
    try:
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        if not isinstance(metadata, dict):
            raise TypeError(f"expected an object, got {type(metadata).__name__}")
    except (TypeError, ValueError) as error:
        raise ValueError(f"row {index}: field 'single_turn_metadata': {error}") from error
    metadata = dict(metadata)
    task_kind = kind or metadata.pop("kind", None) or "chat"
    metadata.pop("kind", None)  # the kind travels in the metadata of our own rows only
    reference = row.get("single_turn_completion") or None
    if task_kind == "math" and reference and last_boxed(reference):
        metadata.setdefault("solution", reference)
        reference = last_boxed(reference)
    try:
        return Task(
            id=str(row["conv_id"]),
            kind=task_kind,
            request=row["single_turn_prompt"],
            reference=reference,
            metadata=metadata,
        )
    except ValidationError as error:
        raise ValueError(f"row {index}: not a valid task: {error}") from error


def _number(row: Mapping[str, Any], index: int, field: str, convert: Any, *, default: Any) -> Any:
    value = row.get(field)
    if value is None:
        return default
    try:
        return convert(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"row {index}: field {field!r} is not a number: {value!r}") from error


def records_from_collabllm(
    rows: Iterable[Mapping[str, Any]], *, kind: str | None = None
) -> list[ConversationRecord]:
    """Records from flat CollabLLM rows (ours or the published datasets').

    Rows are grouped by ``conv_id`` and ordered by ``turn_id`` (``len(prompt)`` when absent,
    as the reference code does). Rows sharing a turn become the candidates of one
    :class:`TurnRecord` with ``mr = score``, the highest-scoring one chosen; the record's
    messages are the last turn's prompt plus its chosen completion. The task kind is
    ``kind``, else ``single_turn_metadata["kind"]``, else ``"chat"``.

    Raises:
        ValueError: a row misses a required field or has a malformed one (names the row
            index and the field).

    Example:
        >>> rows = [{"prompt": [{"role": "user", "content": "Hi"}], "completion": reply,
        ...          "conv_id": "c1", "score": mr, "single_turn_prompt": "Say hi."}
        ...         for reply, mr in [("Hello! What do you need?", 0.9), ("Bye.", 0.1)]]
        >>> records = records_from_collabllm(rows)
        >>> [(c.content, c.mr) for c in records[0].turns[0].candidates], records[0].turns[0].chosen
        ([('Hello! What do you need?', 0.9), ('Bye.', 0.1)], 0)
        >>> records_from_collabllm([{"prompt": []}])
        Traceback (most recent call last):
        ...
        ValueError: row 0: missing field 'completion' (CollabLLM flat format)
    """
    conversations: dict[str, dict[int, list[tuple[list[Message], CandidateRecord]]]] = {}
    tasks: dict[str, Task] = {}
    for index, row in enumerate(rows):
        missing = [field for field in _COLLABLLM_REQUIRED if field not in row]
        if missing:
            raise ValueError(f"row {index}: missing field {missing[0]!r} (CollabLLM flat format)")
        try:
            prompt = [{"role": str(m["role"]), "content": str(m["content"])} for m in row["prompt"]]
        except (KeyError, TypeError) as error:
            message = f"row {index}: field 'prompt' must be a list of role/content dicts"
            raise ValueError(message) from error
        turn_id = _number(row, index, "turn_id", int, default=len(prompt))
        score = _number(row, index, "score", float, default=None)
        conv_id = str(row["conv_id"])
        tasks.setdefault(conv_id, _collabllm_task(row, kind, index))
        candidate = CandidateRecord(content=str(row["completion"]), mr=score)
        conversations.setdefault(conv_id, {}).setdefault(turn_id, []).append((prompt, candidate))

    records = []
    for conv_id, by_turn in conversations.items():
        turns = []
        for turn_id in sorted(by_turn):
            prompts, candidates = zip(*by_turn[turn_id], strict=True)
            scores = [c.mr for c in candidates]
            # An unscored imported turn has nothing to choose by: its first row stays.
            chosen = best_index(scores) if any(m is not None for m in scores) else 0
            turns.append(
                TurnRecord(
                    turn=turn_id, prompt=prompts[chosen], candidates=candidates, chosen=chosen
                )
            )
        last = turns[-1]
        reply: Message = {"role": "assistant", "content": last.candidates[last.chosen].content}
        records.append(
            ConversationRecord(
                task=tasks[conv_id],
                messages=[*last.prompt, reply],
                turns=turns,
                source="collabllm",
            )
        )
    return records
