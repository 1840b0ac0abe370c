"""The embedded model as a real LangChain chat model (integration: runs llama.cpp, offline)."""

import asyncio
import math
import threading

import pytest
from pydantic import BaseModel

from langgraph_collab import Task, create_conversation_graph
from langgraph_collab.reward.score import multiturn_aware_reward
from langgraph_collab.roles.judge import Grade
from langgraph_collab.tasks import demo_example

pytestmark = pytest.mark.integration


def test_invoke_reports_usage_and_honours_max_tokens(local_model):
    reply = local_model.invoke([("user", "Name three colours.")], max_tokens=8)
    assert reply.content
    assert reply.usage_metadata["output_tokens"] <= 8
    assert reply.usage_metadata["input_tokens"] > 5
    assert reply.response_metadata["finish_reason"] in ("length", "stop")


def test_stop_sequences_cut_the_reply(local_model):
    reply = local_model.invoke([("user", "Count: 1, 2, 3, 4, 5, 6")], stop=[","], max_tokens=30)
    assert "," not in reply.content


def test_streaming_yields_chunks(local_model):
    chunks = list(local_model.stream([("user", "Say hello")], max_tokens=8))
    assert len(chunks) >= 2
    assert "".join(c.content for c in chunks)


async def test_async_calls_do_not_block_the_event_loop_and_are_serialised_safely(local_model):
    calls = [
        asyncio.create_task(local_model.ainvoke([("user", f"Say the number {i}")], max_tokens=12))
        for i in range(3)
    ]
    await asyncio.sleep(0)  # the calls start; generation runs in worker threads
    # Had a call blocked the event loop, it would have run to its end before this line.
    assert not all(call.done() for call in calls)
    replies = await asyncio.gather(*calls)
    assert all(r.content for r in replies)


def test_concurrent_threads_are_safe(local_model):
    results, errors = [], []

    def call(i):
        try:
            results.append(local_model.invoke([("user", f"Hi {i}")], max_tokens=6).content)
        except Exception as error:  # pragma: no cover - would be the failure under test
            errors.append(error)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 3


def test_structured_output_is_grammar_constrained(local_model):
    # No free-text field: a 135M model can fill one past any token limit, and a reply cut
    # short is a length limit, not a grammar failure.
    class Verdict(BaseModel):
        interactivity: Grade

    verdict = local_model.with_structured_output(Verdict).invoke(
        "Grade this chat A, B or C as JSON. User: hi. Assistant: How can I help?", max_tokens=80
    )
    assert verdict.interactivity in ("A", "B", "C")


def test_repeated_calls_differ_so_forward_samples_differ(local_model):
    replies = {
        local_model.invoke([("user", "Tell me a story")], max_tokens=12, temperature=1.0).content
        for _ in range(3)
    }
    assert len(replies) > 1


def test_a_whole_simulated_conversation(local_model):
    # The graph with a local model end to end; whether a 135M simulated user passes the
    # fidelity guard depends on the sampled tokens (and so on llama.cpp's thread count):
    # the guard has tests of its own.
    graph = create_conversation_graph(
        user=local_model, assistant=local_model, max_turns=2, fidelity=False
    )
    out = graph.invoke({"messages": [], "task": Task(request="Suggest a name for my cat")})
    assert out.get("failure") is None
    assert [m.type for m in out["messages"]][:2] == ["human", "ai"]
    assert out["turn"] == 2 or out["done"]


def test_a_full_mr_on_the_bundled_example(local_model):
    task, conversation, candidates = demo_example()
    result = multiturn_aware_reward(
        conversation,
        candidates[1],
        task=task,
        user=local_model,
        assistant=local_model,
        judge=local_model,
        samples=2,
        window=1,
    )
    assert result.n_valid >= 1
    assert math.isfinite(result.mean) and math.isfinite(result.stderr)
    assert set(result.components) == {"accuracy", "interactivity", "tokens", "token_penalty"}
    for sample in result.samples:
        if sample.reward is not None:
            assert sample.future and sample.future[0].type == "human"
            assert sample.judgement.grade in ("A", "B", "C")
    assert result.usage["judge"].calls >= 2 and result.usage["assistant"].output_tokens > 0


@pytest.mark.parametrize("kind", ["math", "code", "document", "ambiguity"])
def test_mr_on_every_task_kind_with_the_embedded_model(local_model, kind):
    from langgraph_collab.tasks import load_tasks

    task = load_tasks(kind, split="test", limit=1)[0]
    history = [("user", task.opening or "Hi, can you help me with something?")]
    # The judge copies the final artifact into its JSON: give it room (the same llama.cpp
    # context, so calls stay serialised), or a long document is cut mid-JSON.
    judge = local_model.model_copy(update={"max_tokens": 320})
    result = multiturn_aware_reward(
        history,
        "Sure! What exactly do you need?",
        task=task,
        user=local_model,
        assistant=local_model,
        judge=judge,
        samples=3,
        window=1,
    )
    assert result.n_valid >= 1, [s.error for s in result.samples]
    assert math.isfinite(result.mean)
    assert all(math.isfinite(v) for v in result.components.values())
