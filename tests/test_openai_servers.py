"""OpenAI-compatible servers as a new user meets them: the judge asks for structured output
by a method the server honours (json_schema -> function calling -> json mode -> text),
remembers it, shows it in the trace; a server's refusal moves on, an outage or a context
overflow does not; the reply-length limit reaches the server as ``max_tokens``.

Fakes (tests/fake_openai.py) play servers that honour only some methods; the integration
test runs the README quickstart with every role on llama-cpp-python's own server.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage

from langgraph_collab import PermanentError, Task, create_judge, score_candidates
from langgraph_collab.errors import Backoff
from langgraph_collab.roles.models import load_chat_model
from langgraph_collab.roles.structured import MEMORY
from tests.conftest import judge_json
from tests.fake_openai import FakeOpenAI, Reply, asks_by, role_of, tool_name

FAST = Backoff(base=0.002, cap=0.01)
STATE = {
    "messages": [HumanMessage("2+2?"), AIMessage("Do you mean in base 10?"), HumanMessage("yes")],
    "task": Task(kind="math", request="What is 2+2?", reference="4"),
}
VERDICT = json.loads(judge_json(artifact="4", grade="A", correct=True))
PROSE = "I'm sorry for any confusion, but I cannot help with that."
REFUSED_SCHEMA = (
    "1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', "
    "'type'), 'msg': \"Input should be 'text' or 'json_object'\"}"
)  # llama-cpp-python's server, as measured
OVERFLOW = (
    "This model's maximum context length is 2048 tokens. However, you requested 2300 tokens "
    "(2044 in the messages, 256 in the completion). Please reduce the length of the messages "
    "or completion."
)


@pytest.fixture(autouse=True)
def fresh_memory() -> Iterator[None]:
    """What ``auto`` learnt is per process: each test starts and ends without it."""
    MEMORY.clear()
    yield
    MEMORY.clear()


def serve(responder: Callable[[dict[str, Any]], Reply]) -> FakeOpenAI:
    return FakeOpenAI(responder)


def methods(server: FakeOpenAI) -> list[str]:
    return [asks_by(logged.body) for logged in server.requests]


def tool_calls_only(body: dict[str, Any]) -> Reply:
    """A server that ignores ``response_format``: its model answers in prose, except
    through a tool call when offered one."""
    if body.get("tools"):
        return Reply(tool_call={"name": tool_name(body), "arguments": VERDICT})
    return Reply(PROSE)


class Methods(BaseCallbackHandler):
    """Records the structured-output method in each chat model run's metadata and tags."""

    def __init__(self) -> None:
        self.metadata: list[str | None] = []
        self.tags: list[list[str]] = []

    def on_chat_model_start(self, serialized, messages, *, tags=None, metadata=None, **kw):
        self.metadata.append((metadata or {}).get("structured_output_method"))
        self.tags.append([t for t in tags or [] if t.startswith("structured_output:")])


def test_prose_wrapped_json_from_a_server_ignoring_response_format_is_read():
    with serve(lambda body: Reply("Sure! Here is my review:\n" + judge_json())) as server:
        judge = create_judge(server.model("ignores-format"), retries=0)
        assert judge.invoke(STATE).grade == "A"
        assert judge.invoke(STATE).grade == "A"
        # json_schema: the SDK refuses prose as the schema's JSON; function calling: no tool
        # call came back, the prose is read tolerantly, and that method is kept
        assert methods(server) == ["json_schema", "function_calling", "function_calling"]
        assert judge.model.chosen == "function_calling"


def test_a_server_answering_by_tool_calls_only_settles_on_function_calling():
    seen = Methods()
    with serve(tool_calls_only) as server:
        judge = create_judge(server.model("tools-only"), retries=0)
        first = judge.invoke(STATE, {"callbacks": [seen]})
        assert judge.model.chosen == "function_calling"
        second = judge.invoke(STATE, {"callbacks": [seen]})
        # probed once (json_schema gave prose, function calling a verdict), then kept
        assert methods(server) == ["json_schema", "function_calling", "function_calling"]
    assert first == second and first.accuracy == 1.0
    assert seen.metadata == ["json_schema", "function_calling", "function_calling"]
    assert seen.tags[-1] == ["structured_output:function_calling"]


async def test_the_method_is_kept_per_model_across_judges_and_async_calls():
    with serve(tool_calls_only) as server:
        await create_judge(server.model("tools-only"), retries=0).ainvoke(STATE)
        again = create_judge(server.model("tools-only"), retries=0)
        assert again.model.chosen == "function_calling"  # another instance, same server
        assert (await again.ainvoke(STATE)).grade == "A"
        assert methods(server) == ["json_schema", "function_calling", "function_calling"]


def llama_cpp_like(body: dict[str, Any]) -> Reply:
    """llama-cpp-python's server: json_schema is an HTTP 500, tools are honoured; plays
    the whole quickstart (simulated user, assistant, judge)."""
    role = role_of(body)
    if role == "simulated_user":
        return Reply("I rolled two dice and want P(sum = 7).")
    if role == "assistant":
        return Reply("It is 6/36 = 1/6.")
    if asks_by(body) == "json_schema":
        return Reply(REFUSED_SCHEMA, status=500)
    verdict = json.loads(judge_json(artifact="1/6", grade="B", correct=True))
    return Reply(tool_call={"name": tool_name(body), "arguments": verdict})


def test_http_500_refusing_json_schema_moves_on_and_the_quickstart_scores():
    task = Task(kind="math", request="Two dice are rolled. What is P(sum = 7)?", reference="1/6")
    with serve(llama_cpp_like) as server:
        model = server.model("smollm2")
        rewards = score_candidates(
            [("user", "hey, I have a question about rolling dice")],
            ["The probability is 1/2.", "Sure! What would you like to know about the dice?"],
            task=task,
            user=model,
            assistant=model,
            judge=create_judge(model, backoff=FAST),
            samples=2,
            window=1,
        )
        judged = [asks_by(r.body) for r in server.requests if role_of(r.body) == "judge"]
    assert all(r.mean is not None and math.isfinite(r.mean) for r in rewards)
    assert all(r.n_failed == 0 for r in rewards)
    # the refusal is learnt: json_schema is not asked again once refused or replaced
    assert judged.count("json_schema") <= 4 and judged.count("function_calling") == 4
    assert judged[-1] == "function_calling"


def only(method: str) -> Callable[[dict[str, Any]], Reply]:
    """A server honouring ``method`` alone; the others are refused as real servers do."""

    def responder(body: dict[str, Any]) -> Reply:
        asked = asks_by(body)
        if asked == method == "function_calling":
            return Reply(tool_call={"name": tool_name(body), "arguments": VERDICT})
        if asked == method:
            return Reply(judge_json())
        if asked == "json_schema":
            return Reply(REFUSED_SCHEMA, status=500)
        if asked == "function_calling":
            return Reply("model does not support tools", status=400)  # Ollama's words
        if asked == "json_mode":
            return Reply("response_format json_object is not supported", status=422)
        return Reply(PROSE)

    return responder


@pytest.mark.parametrize(
    ("honoured", "asked"),
    [
        ("function_calling", ["json_schema", "function_calling"]),
        ("json_mode", ["json_schema", "function_calling", "json_mode"]),
        ("text", ["json_schema", "function_calling", "json_mode", "text"]),
    ],
)
def test_auto_walks_the_fixed_order_to_the_method_the_server_honours(honoured, asked):
    with serve(only(honoured)) as server:
        judge = create_judge(server.model(f"only-{honoured}"), retries=0)
        assert judge.invoke(STATE).grade == "A"
        assert judge.invoke(STATE).grade == "A"
        assert methods(server) == [*asked, honoured]
        assert judge.model.chosen == honoured


def test_an_outage_is_retried_and_does_not_demote_the_method():
    calls = []

    def flaky(body: dict[str, Any]) -> Reply:
        calls.append(body)
        if len(calls) == 1:
            return Reply("Internal Server Error", status=500)
        return Reply(judge_json())

    with serve(flaky) as server:
        judge = create_judge(server.model("flaky"), backoff=FAST)
        assert judge.invoke(STATE).grade == "A"
        assert methods(server) == ["json_schema", "json_schema"]
        assert judge.model.chosen == "json_schema"


def test_a_server_restarted_without_the_chosen_method_is_probed_again():
    honoured = ["json_schema"]

    def server_of_the_day(body: dict[str, Any]) -> Reply:
        return only(honoured[0])(body)

    with serve(server_of_the_day) as server:
        judge = create_judge(server.model("restarted"), backoff=FAST)
        judge.invoke(STATE)
        honoured[0] = "function_calling"  # restarted with other options
        assert judge.invoke(STATE).grade == "A"
        assert methods(server) == ["json_schema", "json_schema", "function_calling"]
        assert judge.model.chosen == "function_calling"


def test_a_context_overflow_surfaces_as_itself_naming_role_model_and_sizes():
    with serve(lambda body: Reply(OVERFLOW, status=400)) as server:
        judge = create_judge(server.model("small-ctx"), backoff=FAST)
        with pytest.raises(PermanentError) as raised:
            judge.invoke(STATE)
        assert len(server.requests) == 1  # not retried, not hidden behind another method
    message = str(raised.value)
    assert message.startswith("judge (small-ctx): ") and "Error code: 400" in message
    assert "maximum context length is 2048 tokens" in message and "2300" in message
    assert judge.model.chosen is None  # nothing learnt from it


def test_an_explicit_method_is_the_only_one_asked_and_its_refusal_is_permanent():
    with serve(llama_cpp_like) as server:
        by_tools = create_judge(server.model("smollm2"), method="function_calling", retries=0)
        assert by_tools.invoke(STATE).grade == "B"
        assert methods(server) == ["function_calling"]
        by_schema = create_judge(server.model("smollm2"), method="json_schema", backoff=FAST)
        with pytest.raises(PermanentError, match="rejects structured output by 'json_schema'"):
            by_schema.invoke(STATE)
        assert methods(server) == ["function_calling", "json_schema"]  # asked once
    with pytest.raises(ValueError, match="method must be one of"):
        create_judge(server.model("smollm2"), method="grammar")


def test_the_separate_judges_take_the_method_too():
    def by_tool(body: dict[str, Any]) -> Reply:
        name = tool_name(body)
        arguments = {
            "ExtractReply": {"final_artifact": "4"},
            "InteractivityReply": {"thought": "ok", "interactivity": "A"},
            "AccuracyReply": {"thought": "ok", "correct": True},
        }[name]
        return Reply(tool_call={"name": name, "arguments": arguments})

    with serve(by_tool) as server:
        judge = create_judge(server.model("tools"), combined=False, method="function_calling")
        judgement = judge.invoke(STATE)
    assert (judgement.artifact, judgement.grade, judgement.accuracy) == ("4", "A", 1.0)
    assert set(methods(server)) == {"function_calling"}


def test_max_tokens_reaches_an_openai_compatible_server_as_max_tokens():
    with serve(lambda body: Reply("hi")) as server:
        spec = load_chat_model(
            "openai:smollm2",
            base_url=server.base_url,
            api_key="none",
            max_tokens=20,
            extra_body={"top_k": 5},
            timeout=30,
        )
        spec.invoke("hello")
        from langchain.chat_models import init_chat_model

        instance = init_chat_model(
            "openai:smollm2", base_url=server.base_url, api_key="none", max_tokens=12
        )
        create_judge(instance, method="text", retries=0)  # every role loads through it
        load_chat_model(instance).invoke("hello")
        first, second = (logged.body for logged in server.requests)
    assert first["max_tokens"] == 20 and first["top_k"] == 5
    assert second["max_tokens"] == 12
    assert "max_tokens" not in (instance.extra_body or {})  # the user's instance untouched
    openai = load_chat_model("openai:gpt-4o-mini", api_key="sk-test", max_tokens=20)
    assert openai.extra_body is None  # OpenAI's own API: max_completion_tokens only


def test_the_local_model_refuses_server_options():
    with pytest.raises(TypeError, match=r"does not take \['extra_body', 'timeout'\]"):
        load_chat_model("local", timeout=30, extra_body={"max_tokens": 5})


# --- integration: llama-cpp-python's OpenAI-compatible server on the embedded model ---


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_serving(process: subprocess.Popen, base_url: str, log_path: str) -> None:
    """Poll ``/v1/models`` until the server answers (or its process ended)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with open(log_path) as log:
                pytest.fail(f"llama_cpp.server exited {process.returncode}:\n{log.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=1):
                return
        except OSError:  # still loading: wait a little on the process, then ask again
            try:
                process.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
    pytest.fail("llama_cpp.server did not answer within 120 s")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on the embedded GGUF, on loopback; its base URL."""
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python's server extra")
    from langgraph_collab.roles.local import embedded_model_path

    try:
        gguf = embedded_model_path()
    except (ModuleNotFoundError, FileNotFoundError) as error:
        pytest.skip(str(error))
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log_path = str(tmp_path_factory.mktemp("llama_server") / "server.log")
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--n_threads",
        "2",
        "--seed",
        "0",
    ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"}
        )
    try:
        _wait_until_serving(process, base_url, log_path)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.integration
def test_the_readme_quickstart_scores_with_every_role_on_llama_cpp_server(llama_server):
    from langchain.chat_models import init_chat_model

    talk = init_chat_model(
        "openai:smollm2", base_url=llama_server, api_key="none", max_tokens=24, temperature=0.7
    )
    judge = create_judge(
        init_chat_model(
            "openai:smollm2", base_url=llama_server, api_key="none", max_tokens=120, temperature=0.0
        )
    )
    task = Task(kind="math", request="Two dice are rolled. What is P(sum = 7)?", reference="1/6")
    rewards = score_candidates(
        [("user", "hey, I have a question about rolling dice")],
        ["The probability is 1/2.", "Sure! What would you like to know about the dice?"],
        task=task,
        user=talk,
        assistant=talk,
        judge=judge,
        samples=2,
        window=1,
    )
    assert all(r.mean is not None and math.isfinite(r.mean) for r in rewards)
    assert sum(r.n_failed for r in rewards) == 0
    # the server refuses json_schema (HTTP 500) and honours tools: the judge learnt that
    assert judge.model.chosen == "function_calling"
    for reward in rewards:  # max_tokens reached the server: no reply ran past it
        for role in ("simulated_user", "assistant"):
            usage = reward.usage[role]
            assert usage.calls and usage.output_tokens <= 24 * usage.calls
