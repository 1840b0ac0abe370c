"""The identical-call cache: hits, keys, persistence, usage, refusals, concurrency, files."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser

from langgraph_collab import create_judge, load_chat_model, score_candidates
from langgraph_collab.agents.budget import Budget, Gate
from langgraph_collab.collection.records import ConversationRecord
from langgraph_collab.collection.rescoring import rescore
from langgraph_collab.errors import BudgetExhausted
from langgraph_collab.roles.cache import (
    CallCacheFileError,
    MemoryCallCache,
    SQLiteCallCache,
    cached,
    create_call_cache,
)
from langgraph_collab.testing import ScriptedChatModel
from langgraph_collab.tracing import CallGate, RoleUsage, UsageLedger
from tests.conftest import judge_json, make_assistant, make_user
from tests.fake_openai import FakeOpenAI, Reply


class GreedyModel(ScriptedChatModel):
    """A scripted model that names itself and its temperature, as API models do."""

    model_name: str = "scripted-judge"
    temperature: float | None = 0.0


class Counter:
    """A script that counts its invocations: ``reply <n> to <last message>``."""

    def __init__(self) -> None:
        self.n = 0
        self._lock = threading.Lock()

    def __call__(self, messages: list[BaseMessage]) -> str:
        with self._lock:
            self.n += 1
            n = self.n
        return f"reply {n} to {messages[-1].text}"


def greedy(**fields: object) -> tuple[GreedyModel, Counter]:
    counter = Counter()
    return GreedyModel(script=counter, **fields), counter


@pytest.fixture(params=["memory", "sqlite"])
def cache(request, tmp_path):
    return create_call_cache(None if request.param == "memory" else tmp_path / "calls.sqlite")


# ---------------------------------------------------------------------- hits and keys


def test_a_hit_returns_the_stored_reply_without_calling_the_model(cache):
    model, counter = greedy()
    judge = cached(model, cache)
    first = judge.invoke([HumanMessage("grade this")])
    second = judge.invoke([HumanMessage("grade this")])
    assert counter.n == 1
    assert first.content == second.content == "reply 1 to grade this"
    assert "cache_hit" not in first.response_metadata
    assert second.response_metadata["cache_hit"] is True
    assert second.usage_metadata["output_tokens"] == first.usage_metadata["output_tokens"]
    assert second is not first and judge.invoke("grade this") is not second  # fresh objects


def test_async_calls_hit_the_same_entries(cache):
    model, counter = greedy()
    judge = cached(model, cache)

    async def run() -> list[str]:
        return [(await judge.ainvoke("grade this")).text for _ in range(3)]

    assert asyncio.run(run()) == ["reply 1 to grade this"] * 3
    assert judge.invoke("grade this").text == "reply 1 to grade this"  # sync reads async's
    assert counter.n == 1


def test_different_messages_or_parameters_miss(cache):
    model, counter = greedy()
    judge = cached(model, cache)
    judge.invoke("grade this")
    judge.invoke("grade that")  # other messages
    judge.invoke([("system", "Be strict."), ("user", "grade this")])
    judge.bind(stop=["\n"]).invoke("grade this")  # a call parameter
    judge.bind(seed=1).invoke("grade this")  # a bound keyword
    judge.bind(seed=2).invoke("grade this")
    cached(GreedyModel(script=counter, model_name="other"), cache).invoke("grade this")
    warm = cached(GreedyModel(script=counter, temperature=0.5), cache, allow_sampling=True)
    warm.invoke("grade this")  # another temperature
    assert counter.n == 8
    judge.bind(seed=2).invoke("grade this")  # and each is a hit the second time
    warm.invoke("grade this")
    assert counter.n == 8


def test_message_ids_are_not_part_of_the_key(cache):
    model, counter = greedy()
    judge = cached(model, cache)
    judge.invoke([HumanMessage("grade this", id="a")])
    judge.invoke([HumanMessage("grade this", id="b")])
    assert counter.n == 1


def test_openai_models_key_on_name_temperature_and_bound_options(cache):
    with FakeOpenAI(lambda body: Reply(f"{body['model']} says hi")) as server:
        judge = cached(server.model("judge-a", temperature=0), cache)
        assert judge.invoke("hi").text == judge.invoke("hi").text == "judge-a says hi"
        assert len(server.requests) == 1
        cached(server.model("judge-b", temperature=0), cache).invoke("hi")
        cached(server.model("judge-a", temperature=0, max_tokens=5), cache).invoke("hi")
        warm = cached(server.model("judge-a", temperature=0.7), cache, allow_sampling=True)
        warm.invoke("hi")
        judge.bind(response_format={"type": "json_object"}).invoke("hi")
        assert len(server.requests) == 5
        hit = judge.invoke("hi")
        assert hit.response_metadata["cache_hit"] is True
        assert hit.response_metadata["model_name"] == "judge-a"  # the stored reply's own
        assert len(server.requests) == 5


def test_a_cached_judge_with_structured_output_hits(cache, math_task):
    with FakeOpenAI(lambda body: Reply(judge_json())) as server:
        judge = create_judge(cached(server.model(temperature=0), cache))
        state = {"task": math_task, "messages": [HumanMessage("2+2?"), AIMessage("4")]}
        verdicts = [judge.invoke(state) for _ in range(2)]
        assert verdicts[0] == verdicts[1] and len(server.requests) == 1


# ---------------------------------------------------------------------- persistence


def test_the_sqlite_cache_survives_a_new_cache_object_and_model(tmp_path):
    path = tmp_path / "nested" / "judge.sqlite"
    model, _ = greedy()
    cached(model, create_call_cache(path)).invoke("grade this")
    again, later = greedy()
    reply = cached(again, create_call_cache(path)).invoke("grade this")  # a new process would
    assert reply.text == "reply 1 to grade this" and later.n == 0
    assert reply.response_metadata["cache_hit"] is True
    assert cached(again, path).invoke("grade this").text == reply.text  # a path also works
    cached(again, path).invoke([("system", "the hidden rubric"), ("user", "grade this")])
    assert b"hidden rubric" not in path.read_bytes()  # keys are hashes: no prompt is stored


def test_max_entries_drops_the_oldest(tmp_path):
    for small in (
        create_call_cache(max_entries=2),
        create_call_cache(tmp_path / "s", max_entries=2),
    ):
        model, counter = greedy()
        judge = cached(model, small)
        for prompt in ["a", "b", "c", "c", "b", "a"]:
            judge.invoke(prompt)
        assert counter.n == 4 and len(small) == 2  # "a" was dropped, asked again
    with pytest.raises(ValueError, match="max_entries"):
        create_call_cache(max_entries=0)


def test_clear_empties_the_cache(cache):
    model, counter = greedy()
    judge = cached(model, cache)
    judge.invoke("grade this")
    cache.clear()
    assert len(cache) == 0
    judge.invoke("grade this")
    assert counter.n == 2


# ---------------------------------------------------------------------- the user's model


def test_the_users_model_is_not_changed(cache):
    model, counter = greedy()
    bound = model.bind(seed=3)
    before, bound_before = model.model_dump(), bound.kwargs
    judge = cached(model, cache)
    cached_bound = cached(bound, cache)
    assert model.cache is None and model.model_dump() == before
    assert bound.bound is model and bound.kwargs == bound_before
    assert cached_bound.kwargs == {"seed": 3} and cached_bound.bound.cache is not None
    model.invoke("grade this")
    model.invoke("grade this")
    assert counter.n == 2  # the original still calls its model every time
    judge.invoke("grade this")
    assert counter.n == 3


# ---------------------------------------------------------------------- refusals


def test_a_sampled_model_is_refused_unless_allowed(cache):
    with pytest.raises(ValueError, match=r"temperature=0\.7.*allow_sampling=True"):
        cached(GreedyModel(script=["x"], temperature=0.7), cache)
    with pytest.raises(ValueError, match="sets no temperature"):
        cached(GreedyModel(script=["x"], temperature=None), cache)
    with pytest.raises(ValueError, match="sets no temperature"):
        cached(ScriptedChatModel(script=["x"]), cache)
    with pytest.raises(ValueError, match=r"temperature=1"):
        cached(GreedyModel(script=["x"]).bind(temperature=1), cache)  # bound per call
    cached(GreedyModel(script=["x"], temperature=0.7).bind(temperature=0), cache)
    cached(GreedyModel(script=["x"], temperature=0.7), cache, allow_sampling=True)


def test_openai_without_a_temperature_is_refused(cache):
    with FakeOpenAI(lambda body: Reply("x")) as server:
        with pytest.raises(ValueError, match="ChatOpenAI sets no temperature"):
            cached(server.model(), cache)
        model = server.model(extra_body={"temperature": 0})
        cached(model, cache)  # the request body's temperature counts


def test_things_that_are_not_chat_models_are_refused(cache):
    model, _ = greedy()
    for thing in [
        lambda messages: "hi",
        "openai:gpt-4o-mini",
        create_judge(model),
        model | StrOutputParser(),  # a chain, as with_structured_output builds
    ]:
        with pytest.raises(TypeError, match="cached\\(\\) takes a LangChain chat model"):
            cached(thing, cache)
    with pytest.raises(TypeError, match="BaseCache"):
        cached(model, {"not": "a cache"})


# ---------------------------------------------------------------------- usage


def test_usage_counts_hits_and_no_tokens_for_them(cache):
    model, _ = greedy()
    judge = cached(model, cache)
    ledger = UsageLedger()
    config = {"callbacks": [ledger], "tags": ["role:judge"]}
    first = judge.invoke("grade this", config)
    judge.invoke("grade this", config)
    judge.invoke("grade this", config)
    spent = first.usage_metadata
    assert ledger.by_role() == {
        "judge": RoleUsage(
            calls=1,
            input_tokens=spent["input_tokens"],
            output_tokens=spent["output_tokens"],
            cache_hits=2,
        )
    }
    assert (RoleUsage(cache_hits=2) + RoleUsage(cache_hits=1, calls=1)).cache_hits == 3


def test_the_call_gate_counts_hits_apart(cache):
    model, _ = greedy()
    judge = cached(model, cache)
    gate = CallGate(2)

    async def run() -> None:
        for _ in range(3):
            await judge.ainvoke("grade this", {"callbacks": [gate]})

    asyncio.run(run())
    assert (gate.calls, gate.cache_hits, gate.in_flight) == (1, 2, 0)
    assert gate.tokens == sum(len(t.split()) for t in ["grade this", "reply 1 to grade this"])


def test_cache_hits_give_back_their_place_in_a_call_budget(cache):
    model, _ = greedy()
    judge = cached(model, cache)
    gate = Gate(Budget(calls=2))
    gate.enforce = True
    config = {"callbacks": [gate], "tags": ["role:judge"]}
    for _ in range(3):  # one model call, then two cache hits
        judge.invoke("grade this", config)
    judge.invoke("grade that", config)  # the budget's second call
    assert gate.spent()[0] == 2 and not gate.exhausted
    with pytest.raises(BudgetExhausted):
        judge.invoke("grade something else", config)
    assert gate.spent()[0] == 2 and gate.exhausted


def test_score_candidates_reports_judge_cache_hits(cache, math_task):
    counter = Counter()
    judge = cached(GreedyModel(script=lambda messages: counter(messages) and judge_json()), cache)
    common = dict(
        task=math_task, user=make_user(stop_after=1), assistant=make_assistant(), judge=judge,
        samples=2, window=1,
    )  # fmt: skip
    conversation = [("user", "What is 2 + 2?")]
    first = score_candidates(conversation, ["4", "Do you mean 2 + 2 = 4?"], **common)
    made = counter.n
    second = score_candidates(conversation, ["4", "Do you mean 2 + 2 = 4?"], **common)
    assert counter.n == made  # every judge call of the second pass came from the cache
    for before, after in zip(first, second, strict=True):
        assert after.mean == before.mean
        used, again = before.usage["judge"], after.usage["judge"]
        assert used.calls + used.cache_hits == again.cache_hits == 2  # one per sample
        assert again.calls == again.input_tokens == again.output_tokens == 0
        assert after.usage["simulated_user"].cache_hits == 0  # only the judge is cached
    assert sum(r.usage["judge"].calls for r in first) == made


def test_rescore_takes_a_cache_for_the_judge(tmp_path, math_task):
    messages = [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4"},
    ]
    records = [ConversationRecord(task=math_task, messages=messages)]
    counter = Counter()
    judge = GreedyModel(script=lambda messages: counter(messages) and judge_json())
    common = dict(
        user=make_user(stop_after=1), assistant=make_assistant(), judge=judge, candidates=1,
        samples=1, window=1, cache=tmp_path / "judge.sqlite",
    )  # fmt: skip
    first = rescore(records, **common)
    made = counter.n
    second = rescore(records, **common)
    assert made > 0 and counter.n == made
    assert [c.mr for c in second[0].turns[0].candidates] == [
        c.mr for c in first[0].turns[0].candidates
    ]
    with pytest.raises(TypeError, match="create_judge"):
        rescore(records, **{**common, "judge": create_judge(judge)})


def test_load_chat_model_takes_a_cache(tmp_path):
    with FakeOpenAI(lambda body: Reply("hi")) as server:
        model = load_chat_model(
            "openai:judge", base_url=server.base_url, api_key="sk-x", temperature=0,
            cache=tmp_path / "judge.sqlite",
        )  # fmt: skip
        assert isinstance(model, BaseChatModel)
        assert isinstance(model.cache.cache, SQLiteCallCache)  # keyed by the endpoint too
        model.invoke("hi")
        model.invoke("hi")
        assert len(server.requests) == 1
        instance = load_chat_model(server.model(temperature=0), cache=MemoryCallCache())
        assert isinstance(instance.cache.cache, MemoryCallCache)
        with pytest.raises(ValueError, match="sets no temperature"):
            load_chat_model(
                "openai:judge", base_url=server.base_url, api_key="sk-x", cache=MemoryCallCache()
            )


# ---------------------------------------------------------------------- concurrency


def _hammer(judges: list, prompts: list[str]) -> dict[int, str]:
    """Every prompt asked at once from its own thread, the judges taking turns."""
    start = threading.Barrier(len(prompts))
    replies: dict[int, str] = {}
    errors: list[BaseException] = []

    def call(i: int) -> None:
        start.wait()
        try:
            replies[i] = judges[i % len(judges)].invoke(prompts[i]).text
        except BaseException as error:  # collected, asserted by the caller
            errors.append(error)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return replies


@pytest.mark.parametrize("where", ["memory", "one file, two cache objects"])
def test_many_threads_on_one_cache_keep_it_whole(tmp_path, where):
    path = tmp_path / "calls.sqlite"
    if where == "memory":
        caches = [create_call_cache()]
    else:  # two connections to one file, as two processes would hold
        caches = [create_call_cache(path), create_call_cache(path)]
    model, counter = greedy()
    judges = [cached(model, cache) for cache in caches]
    prompts = [f"prompt {i % 5}" for i in range(40)]
    replies = _hammer(judges, prompts)
    assert all(replies[i].endswith(f" to {prompt}") for i, prompt in enumerate(prompts))
    assert all(len(cache) == 5 for cache in caches)
    # Identical calls in flight at once may each miss, but every later one, from any
    # cache object, gets the first reply stored, whatever thread wrote it.
    made = counter.n
    stored = {p: judges[0].invoke(p).text for p in set(prompts)}
    again = _hammer(judges, prompts)
    assert all(again[i] == stored[prompt] for i, prompt in enumerate(prompts))
    assert counter.n == made
    if where != "memory":
        with sqlite3.connect(path) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_many_async_tasks_on_one_cache(cache):
    model, counter = greedy()
    judge = cached(model, cache)

    async def run() -> list[str]:
        calls = [judge.ainvoke(f"prompt {i % 4}") for i in range(60)]
        return [reply.text for reply in await asyncio.gather(*calls)]

    texts = asyncio.run(run())
    assert all(text.endswith(f" to prompt {i % 4}") for i, text in enumerate(texts))
    assert len(cache) == 4
    assert counter.n <= 60
    made = counter.n
    assert all(t.endswith(f"prompt {i % 4}") for i, t in enumerate(asyncio.run(run())))
    assert counter.n == made  # a second round: hits only


# ---------------------------------------------------------------------- files


def test_a_file_that_is_not_a_call_cache_is_refused_and_left_alone(tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database, just notes " * 100)
    with pytest.raises(CallCacheFileError, match=r"notes\.sqlite is not a usable call cache"):
        create_call_cache(text)
    assert text.read_text().startswith("not a database")

    foreign = tmp_path / "app.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE users (name TEXT)")
    before = foreign.read_bytes()
    with pytest.raises(CallCacheFileError, match=r"not a langgraph-collab call cache.*users"):
        create_call_cache(foreign)
    assert foreign.read_bytes() == before

    with pytest.raises(CallCacheFileError, match="is a folder"):
        create_call_cache(tmp_path)


def test_a_cache_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "calls.sqlite"
    create_call_cache(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(CallCacheFileError, match="newer langgraph-collab"):
        create_call_cache(path)


def test_a_corrupted_cache_fails_with_the_path_not_a_sqlite_traceback(tmp_path):
    path = tmp_path / "calls.sqlite"
    judge = cached(greedy()[0], create_call_cache(path))
    for i in range(50):
        judge.invoke(f"prompt {i} " + "x" * 500)
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page, past the header
    path.write_bytes(bytes(data))
    with pytest.raises(CallCacheFileError, match=r"calls\.sqlite is not a usable call cache"):
        cached(greedy()[0], create_call_cache(path)).invoke("prompt 1")


def test_stored_replies_are_json(tmp_path):
    path = tmp_path / "calls.sqlite"
    cached(greedy()[0], create_call_cache(path)).invoke("grade this")
    with sqlite3.connect(path) as db:
        (value,) = db.execute("SELECT value FROM calls").fetchone()
    (item,) = json.loads(value)
    assert item["message"]["content"] == "reply 1 to grade this"
    assert Path(path).stat().st_size > 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_malformed_reply_is_neither_replayed_to_the_retry_nor_kept(cache, math_task, mode):
    """The judge's first reply cannot be read: the role retries past the cache, and the
    good reply of the retry replaces the bad one, which later identical calls then hit."""
    replies = iter(["not json at all", judge_json(), "never asked"])
    judge = create_judge(cached(GreedyModel(script=lambda messages: next(replies)), cache))
    state = {"messages": [HumanMessage("What is 2 + 2?"), AIMessage("4")], "task": math_task}

    def grade():
        ledger = UsageLedger()
        config = {"callbacks": [ledger]}
        if mode == "sync":
            verdict = judge.invoke(state, config)
        else:
            verdict = asyncio.run(judge.ainvoke(state, config))
        return verdict, ledger.by_role()["judge"]

    first, used = grade()
    assert first.artifact == "4" and used.calls == 2 and used.cache_hits == 0
    again, used = grade()
    assert again == first and used.calls == 0 and used.cache_hits == 1
    assert next(replies) == "never asked"
