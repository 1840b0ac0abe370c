"""Traced conversations -> records, and re-scoring them with MR.

Conversations traced from a production agent (to LangSmith, or locally with
:class:`RunRecorder` when tracing is off) are read back as
:class:`~langgraph_collab.collection.records.ConversationRecord` objects; :func:`arescore` then
resamples each assistant turn, scores every candidate (the real reply included) by MR with
a simulated user who wants what the real user asked for, and fills the records' turns, so
that ``export.dpo_dataset`` emits preference pairs from real traffic.

Example:
    >>> from langgraph_collab.collection.rescoring import RunRecorder, records_from_runs
    >>> recorder = RunRecorder()
    >>> # agent.invoke({"messages": [...]}, {"callbacks": [recorder]})
    >>> records_from_runs(recorder.runs)
    []
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.caches import BaseCache
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import load
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.messages.utils import convert_to_messages

from langgraph_collab._runtime.sync import run_sync
from langgraph_collab.collection.records import (
    CandidateRecord,
    ConversationRecord,
    TurnRecord,
)
from langgraph_collab.options_check import raise_problems, whole
from langgraph_collab.reward.options import RewardOptions, run_problems, task_problems
from langgraph_collab.reward.score import ascore_candidates
from langgraph_collab.reward.scoring import best_index
from langgraph_collab.roles.assistant import AssistantLike, create_assistant
from langgraph_collab.roles.cache import cached
from langgraph_collab.roles.judge import JudgeLike
from langgraph_collab.roles.role import Role
from langgraph_collab.roles.user import UserLike
from langgraph_collab.state import Task, to_dicts
from langgraph_collab.tracing import tracing_guard

REPLAY_DESCRIPTION = (
    "You are replaying a real user's conversation. Want what they wanted, in their way of "
    "asking; reveal what they revealed, when the assistant needs it."
)


def _message(item: Any) -> BaseMessage:
    if isinstance(item, BaseMessage):
        return item
    if isinstance(item, Mapping) and item.get("lc") == 1:
        return load(dict(item))
    if isinstance(item, Mapping) and "type" in item and "content" in item and "role" not in item:
        item = {
            "role": {"human": "user", "ai": "assistant"}.get(item["type"], item["type"]),
            **item,
        }
    return convert_to_messages([item])[0]


def _field(run: Any, name: str) -> Any:
    return run.get(name) if isinstance(run, Mapping) else getattr(run, name, None)


def run_messages(run: Any) -> list[BaseMessage]:
    """The conversation a traced run holds: a graph's ``messages`` output (its full
    state), else a chat model run's prompt plus its reply.

    Example:
        >>> run = {"outputs": {"messages": [{"role": "user", "content": "Hi"},
        ...                                 {"role": "assistant", "content": "Hello!"}]}}
        >>> [type(m).__name__ for m in run_messages(run)]
        ['HumanMessage', 'AIMessage']
    """
    outputs, inputs = _field(run, "outputs") or {}, _field(run, "inputs") or {}
    if isinstance(outputs.get("messages"), list):
        return [_message(m) for m in outputs["messages"]]
    if _field(run, "run_type") == "llm" and inputs.get("messages"):
        prompt = [_message(m) for m in inputs["messages"][0]]
        generation = outputs.get("generations", [[{}]])[0][0]
        reply = _message(generation["message"]) if "message" in generation else None
        return prompt + ([reply] if reply is not None else [])
    return []


def records_from_runs(runs: Iterable[Any]) -> list[ConversationRecord]:
    """One record per run holding a conversation with a user turn and an assistant reply.

    Runs are LangSmith ``Run`` objects or the dicts :class:`RunRecorder` keeps.

    Example:
        >>> run = {"id": "r1", "name": "agent", "outputs": {"messages": [
        ...     {"role": "user", "content": "Book me a flight"},
        ...     {"role": "assistant", "content": "Which city?"}]}}
        >>> record = records_from_runs([run])[0]
        >>> record.task.request, record.source, len(record.messages)
        ('Book me a flight', 'recorder', 2)
    """
    records = []
    for run in runs:
        messages = [m for m in run_messages(run) if isinstance(m, HumanMessage | AIMessage)]
        asked = [m.text for m in messages if isinstance(m, HumanMessage)]
        if not asked or not any(isinstance(m, AIMessage) and m.text for m in messages):
            continue
        extra = _field(run, "extra") or {}
        metadata = extra.get("metadata") or _field(run, "metadata") or {}
        task = Task(
            id=str(_field(run, "id")),
            kind=str(metadata.get("task_kind", "chat")),
            request="\n".join(asked),
            description=REPLAY_DESCRIPTION,
        )
        records.append(
            ConversationRecord(
                task=task,
                messages=to_dicts(messages),
                source="langsmith" if not isinstance(run, Mapping) else "recorder",
                metadata={"run_name": _field(run, "name"), **metadata},
            )
        )
    return records


def runs_from_langsmith(
    project: str, *, client: Any = None, limit: int | None = None, **filters: Any
) -> list[Any]:
    """Root runs of a LangSmith project (``filters`` go to ``Client.list_runs``: ``filter``,
    ``start_time``, ``run_type``...); ``client`` defaults to a reader ``langsmith.Client``.

    Example:
        >>> class Client:  # stands in for langsmith.Client
        ...     def list_runs(self, **query):
        ...         return iter([{"id": "r1", "query": query}])
        >>> runs_from_langsmith("my-agent", client=Client(), limit=1)[0]["query"]
        {'project_name': 'my-agent', 'is_root': True, 'limit': 1}
        >>> runs = runs_from_langsmith("my-agent-project", limit=200)  # doctest: +SKIP
    """
    from langsmith import Client

    client = client or Client(auto_batch_tracing=False)  # a reader: no upload threads
    return list(client.list_runs(project_name=project, is_root=True, limit=limit, **filters))


class RunRecorder(BaseCallbackHandler):
    """Keeps root runs (inputs, outputs, metadata) in memory, and optionally appends them to
    a JSONL file, in the shape :func:`records_from_runs` reads: tracing off, same export.

    Example:
        >>> from langchain_core.messages import AIMessage, HumanMessage
        >>> from langchain_core.runnables import RunnableLambda
        >>> agent = RunnableLambda(
        ...     lambda state: {"messages": [*state["messages"], AIMessage("Which city?")]})
        >>> recorder = RunRecorder()  # RunRecorder(path): also appended to a JSONL file
        >>> _ = agent.invoke({"messages": [HumanMessage("Book me a flight")]},
        ...                  {"callbacks": [recorder]})
        >>> records_from_runs(recorder.runs)[0].messages[-1]
        {'role': 'assistant', 'content': 'Which city?'}
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.runs: list[dict[str, Any]] = []
        self._open: dict[UUID, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
        tags: list[str] | None = None, metadata: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        if parent_run_id is not None:
            return
        run = {
            "id": str(run_id),
            "name": kwargs.get("name") or (serialized or {}).get("name"),
            "run_type": "chain",
            "inputs": inputs if isinstance(inputs, dict) else {"input": inputs},
            "tags": tags or [],
            "extra": {"metadata": dict(metadata or {})},
            "start_time": datetime.now(timezone.utc).isoformat(),
        }
        with self._lock:
            self._open[run_id] = run

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            run = self._open.pop(run_id, None)
        if run is None:
            return
        run["outputs"] = outputs if isinstance(outputs, dict) else {"output": outputs}
        with self._lock:
            self.runs.append(run)
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as file:
                    file.write(json.dumps(run, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseMessage):
        return value.model_dump()
    return str(value)


def read_recorded_runs(path: str | Path) -> list[dict[str, Any]]:
    """Runs a :class:`RunRecorder` appended to ``path``.

    Example:
        >>> import pathlib, tempfile
        >>> from langchain_core.runnables import RunnableLambda
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "runs.jsonl"
        >>> _ = RunnableLambda(lambda x: x).invoke({"q": 1}, {"callbacks": [RunRecorder(path)]})
        >>> [run["outputs"] for run in read_recorded_runs(path)]
        [{'q': 1}]
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


async def arescore(
    records: Sequence[ConversationRecord],
    *,
    user: UserLike,
    assistant: AssistantLike,
    judge: JudgeLike,
    options: RewardOptions | None = None,
    candidates: int = 2,
    max_concurrency: int | None = None,
    cache: BaseCache | str | Path | None = None,
    **overrides: Any,
) -> list[ConversationRecord]:
    """Records with their turns filled: at every assistant turn, the real reply and
    ``candidates`` fresh replies from ``assistant``, each scored by MR (``options`` and
    the keywords overriding it as :func:`~langgraph_collab.score_candidates`'s); the
    chosen index is the highest MR.

    ``cache`` (a ``BaseCache`` or a file path; :mod:`langgraph_collab.roles.cache`) answers the
    judge's identical calls: a future judged before (the same transcript, the same judge)
    is not judged again, in this run or a later one on the same file. Futures repeat when
    the user and assistant are greedy (temperature 0) or scripted; a sampling user makes
    new ones, which miss. The judge must be a chat model with temperature 0; ``cache``
    never touches the user or the assistant.

    Example:
        >>> import asyncio
        >>> run = {"id": "r1", "outputs": {"messages": [
        ...     {"role": "user", "content": "Book me a flight"},
        ...     {"role": "assistant", "content": "Which city?"}]}}
        >>> scored = asyncio.run(arescore(
        ...     records_from_runs([run]), candidates=1, samples=1, window=1,
        ...     user=lambda state: "From Paris. [[TERMINATE CHAT]]",
        ...     assistant=lambda messages: "Where from?",
        ...     judge=lambda state: {"artifact": "", "grade": "A"}))
        >>> [c.content for c in scored[0].turns[0].candidates]  # the real reply first
        ['Which city?', 'Where from?']
    """
    options = RewardOptions.of(options, **overrides)
    tasks = [record.task for record in records]
    raise_problems(
        [
            whole("candidates", candidates, minimum=0),
            *run_problems(max_concurrency=max_concurrency),
            *task_problems(tasks, metrics=options.metrics, weights=options.weights),
        ]
    )
    policy = create_assistant(assistant)
    if cache is not None:
        judge = _cached_judge(judge, cache)

    async def turn(record: ConversationRecord, index: int, number: int) -> TurnRecord:
        prompt = convert_to_messages(record.messages[:index])
        fresh = await asyncio.gather(
            *(policy.ainvoke({"messages": prompt}) for _ in range(candidates))
        )
        texts = [record.messages[index]["content"], *(m.text for m in fresh)]
        rewards = await ascore_candidates(
            prompt, texts, task=record.task, user=user, assistant=assistant, judge=judge,
            options=options, max_concurrency=max_concurrency,
        )  # fmt: skip
        scored = [CandidateRecord.from_reward(r) for r in rewards]
        best = best_index([c.mr for c in scored])
        return TurnRecord(
            turn=number, prompt=record.messages[:index], candidates=scored, chosen=best
        )

    async def one(record: ConversationRecord) -> ConversationRecord:
        replies = [i for i, m in enumerate(record.messages) if m["role"] == "assistant" and i > 0]
        turns = [await turn(record, index, number) for number, index in enumerate(replies)]
        return record.model_copy(update={"turns": turns})

    with tracing_guard():
        return list(await asyncio.gather(*map(one, records)))


def _cached_judge(judge: JudgeLike, cache: BaseCache | str | Path) -> JudgeLike:
    if isinstance(judge, Role):
        raise TypeError(
            "rescore(cache=...) caches a chat-model judge, not a judge built by create_judge: "
            "attach the cache to the model inside, create_judge(cached(model, cache), ...), "
            "and pass that judge without cache="
        )
    return cached(judge, cache)  # refuses other things, naming what to do


def rescore(
    records: Sequence[ConversationRecord],
    *,
    user: UserLike,
    assistant: AssistantLike,
    judge: JudgeLike,
    options: RewardOptions | None = None,
    candidates: int = 2,
    max_concurrency: int | None = None,
    cache: BaseCache | str | Path | None = None,
    **overrides: Any,
) -> list[ConversationRecord]:
    """Sync :func:`arescore` (also from inside a running event loop).

    Example:
        >>> scored = rescore(records, user=m, assistant=m, judge=m)  # doctest: +SKIP
        >>> judge = ChatOpenAI(model="gpt-4o-mini", temperature=0)  # doctest: +SKIP
        >>> again = rescore(records, user=m, assistant=m, judge=judge,
        ...                 cache="runs/judge-calls.sqlite")  # doctest: +SKIP
    """
    return run_sync(
        arescore(
            records, user=user, assistant=assistant, judge=judge, options=options,
            candidates=candidates, max_concurrency=max_concurrency, cache=cache, **overrides,
        )
    )  # fmt: skip
