"""The real langsmith SDK (and LangChain / LangGraph tracing) against ``tests.fake_langsmith``.

Setup used here: ``LANGSMITH_TRACING=true``, ``LANGSMITH_ENDPOINT=<server.url>``,
``LANGSMITH_API_KEY=fake-api-key``, ``LANGSMITH_PROJECT=<name>`` (all other ``LANGSMITH_*`` /
``LANGCHAIN_*`` vars removed, proxies bypassed for 127.0.0.1), then
``reset_langsmith_caches()`` so the SDK re-reads them; flush with ``wait_for_all_tracers()``
or ``client.flush(timeout=...)``. ``no_internet`` fails any non-loopback DNS lookup/connection.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import itertools
import json
import os
import socket
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import TypedDict

import langsmith
import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable
from langchain_core.tracers.langchain import wait_for_all_tracers
from langgraph.graph import END, START, StateGraph
from langsmith import run_trees
from langsmith.utils import LangSmithNotFoundError

from tests.fake_langsmith import (
    ENV_PREFIXES,
    FakeLangSmith,
    UnsupportedFilterError,
    compile_filter,
    reset_langsmith_caches,
)

PROJECT = "fake-ls-tests"
CHAIN_CHILDREN = {"ChatPromptTemplate", "GenericFakeChatModel", "StrOutputParser"}
# list_runs / read_run are deprecated in langsmith 0.15 (in favour of client.runs.*, which
# talks to /v2 endpoints the fake does not serve); they still work.
ignore_ls_deprecations = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def no_internet(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Fail (and record) any DNS lookup or connection that is not to the loopback interface."""
    attempts: list[object] = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def is_local(host: object) -> bool:
        if host in ("localhost", None):
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    def connect(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not is_local(address[0]):  # type: ignore[index]
            attempts.append(address)
            raise ConnectionRefusedError(f"test blocked a connection to {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if not is_local(host):
            attempts.append(host)
            raise socket.gaierror(f"test blocked a DNS lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert attempts == [], f"something tried to reach the network: {attempts}"


@contextlib.contextmanager
def traced_env(server: FakeLangSmith) -> Iterator[FakeLangSmith]:
    """Env-configured tracing (``LANGSMITH_*``) pointed at ``server``, caches reset around it."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(ENV_PREFIXES):
                mp.delenv(name)
        for name, value in server.env(project=PROJECT).items():
            mp.setenv(name, value)
        for name in ("NO_PROXY", "no_proxy"):
            mp.setenv(name, "127.0.0.1,localhost")
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            mp.delenv(name, raising=False)
        reset_langsmith_caches()
        try:
            yield server
        finally:
            client = run_trees._CLIENT
            if client is not None:
                client.flush(timeout=5)
    reset_langsmith_caches()


@pytest.fixture
def server(no_internet: list[object]) -> Iterator[FakeLangSmith]:
    with FakeLangSmith() as srv, traced_env(srv):
        yield srv
        assert srv.unknown_requests == []
        assert srv.errors == []


# -- helpers ---------------------------------------------------------------------------------


def fake_model() -> GenericFakeChatModel:
    """A chat model that answers "answer 1", "answer 2", ... with a fresh AIMessage each call."""
    return GenericFakeChatModel(
        messages=(AIMessage(content=f"answer {i}") for i in itertools.count(1))
    )


def make_chain() -> Runnable:
    prompt = ChatPromptTemplate.from_messages([("human", "Question: {q}")])
    return prompt | fake_model() | StrOutputParser()


def run_chain(chain: Runnable | None = None, **config: object) -> str:
    config = {
        "run_name": "qa-chain",
        "tags": ["fake-ls"],
        "metadata": {"case": "chain", "n": 1},
        **config,
    }
    return (chain or make_chain()).invoke({"q": "what is 2+2?"}, config=config)


BOUND_S = 60  # the longest a test waits on the SDK: a failure bound, not a speed check


def returns(call: Callable[[], object], what: str) -> None:
    """Run ``call`` in a thread and wait for it to return; fail instead of hanging the
    suite when it does not within ``BOUND_S``."""
    done = threading.Event()
    threading.Thread(target=lambda: (call(), done.set()), daemon=True).start()
    assert done.wait(BOUND_S), f"{what} did not return"


def flush_tracers() -> None:
    """``wait_for_all_tracers()``, failing instead of hanging the suite."""
    returns(wait_for_all_tracers, "wait_for_all_tracers()")


def assert_chain_trace(server: FakeLangSmith) -> dict:
    root = server.run_named("qa-chain")
    assert root["run_type"] == "chain"
    assert root["parent_run_id"] is None
    assert root["trace_id"] == root["id"]
    assert root["session_name"] == PROJECT
    assert root["session_id"] == server.project(PROJECT)["id"]
    assert root["inputs"] == {"q": "what is 2+2?"}
    assert root["outputs"] == {"output": "answer 1"}
    assert not root.get("error")
    assert root["status"] == "success"
    assert root["start_time"] and root["end_time"]
    assert "fake-ls" in root["tags"]
    assert root["extra"]["metadata"]["case"] == "chain"
    assert root["extra"]["metadata"]["n"] == 1

    children = server.children(root["id"])
    assert {c["name"] for c in children} == CHAIN_CHILDREN
    for child in children:
        assert child["trace_id"] == root["id"]
        assert child["parent_run_ids"] == [root["id"]]
        assert child["dotted_order"].startswith(root["dotted_order"] + ".")
        assert "fake-ls" in child["tags"]  # config tags and metadata are inherited
        assert child["extra"]["metadata"]["case"] == "chain"
    llm = server.run_named("GenericFakeChatModel")
    assert llm["run_type"] == "llm"
    assert llm["outputs"]["generations"][0][0]["text"] == "answer 1"
    assert "Question: what is 2+2?" in json.dumps(llm["inputs"])
    return root


# -- (1) tracing a LangChain chain -------------------------------------------------------------


NO_MULTIPART = {
    "use_multipart_endpoint": False,
    "scale_up_qsize_trigger": 1000,
    "scale_up_nthreads_limit": 16,
    "scale_down_nempty_trigger": 4,
    "size_limit": 100,
    "size_limit_bytes": 20_971_520,
}
TRANSPORTS = {
    # name: (FakeLangSmith kwargs, Client kwargs or None for the env-built client, endpoints)
    "multipart-zstd": ({}, None, {("POST", "/runs/multipart")}),
    "multipart": (
        {"compression": False},
        None,
        {("POST", "/runs/multipart")},
    ),
    "batch": (
        {"info": {"batch_ingest_config": NO_MULTIPART}},
        None,
        {("POST", "/runs/batch")},
    ),
    "single": ({}, {"auto_batch_tracing": False}, {("POST", "/runs"), ("PATCH", "/runs/{id}")}),
}


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_a_traced_chain_arrives_with_names_parents_metadata_and_outputs(
    transport: str, no_internet: list[object]
) -> None:
    server_kwargs, client_kwargs, endpoints = TRANSPORTS[transport]
    with FakeLangSmith(**server_kwargs) as server, traced_env(server):
        if client_kwargs is not None:
            langsmith.configure(client=server.client(**client_kwargs))
        assert run_chain() == "answer 1"
        flush_tracers()

        assert_chain_trace(server)
        assert len(server.runs) == 4
        seen = {
            (r.method, "/runs/{id}" if r.method == "PATCH" else r.path)
            for r in server.requests
            if r.path != "/info"
        }
        assert seen == endpoints
        if transport == "multipart-zstd":
            # The SDK starts compressing once its background thread has read /info; runs
            # queued before that go out as plain multipart (an SDK race: on a loaded
            # machine the whole first chain can beat it). /info has been read by now, so
            # a second chain is compressed.
            assert any(r.path == "/info" for r in server.requests)
            assert run_chain() == "answer 1"
            flush_tracers()
            assert any(
                r.headers.get("content-encoding") == "zstd"
                for r in server.requests
                if r.path == "/runs/multipart"
            )
        assert all(r.headers.get("x-api-key") == "fake-api-key" for r in server.requests)
        assert server.unknown_requests == []
        assert server.errors == []


def test_langsmith_traceable_also_traces(server: FakeLangSmith) -> None:
    @langsmith.traceable(name="outer", run_type="chain", tags=["tr"], metadata={"k": "v"})
    def outer(x: int) -> int:
        return inner(x) + 1

    @langsmith.traceable(name="inner")
    def inner(x: int) -> int:
        return x * 2

    assert outer(3) == 7
    flush_tracers()
    root, child = server.run_named("outer"), server.run_named("inner")
    assert child["parent_run_id"] == root["id"]
    assert root["outputs"] == {"output": 7}
    assert root["tags"] == ["tr"]
    assert root["extra"]["metadata"]["k"] == "v"


# -- (2) reading runs and projects back ----------------------------------------------------------


@ignore_ls_deprecations
def test_list_runs_and_read_run(server: FakeLangSmith) -> None:
    run_chain()
    run_chain(run_name="second-chain")
    flush_tracers()
    client = server.client()

    project = client.read_project(project_name=PROJECT)
    assert str(project.id) == server.project(PROJECT)["id"]
    assert client.has_project(PROJECT)
    assert not client.has_project("no-such-project")

    runs = list(client.list_runs(project_name=PROJECT))
    assert len(runs) == 8
    roots = list(client.list_runs(project_name=PROJECT, is_root=True))
    assert sorted(r.name for r in roots) == ["qa-chain", "second-chain"]
    root = next(r for r in roots if r.name == "qa-chain")
    assert root.outputs == {"output": "answer 1"}
    assert root.metadata["case"] == "chain"
    assert root.tags is not None and "fake-ls" in root.tags
    assert root.session_id == project.id

    llms = list(client.list_runs(project_name=PROJECT, run_type="llm"))
    assert [r.name for r in llms] == ["GenericFakeChatModel"] * 2
    in_trace = list(client.list_runs(project_name=PROJECT, trace_id=root.id))
    assert {r.name for r in in_trace} == CHAIN_CHILDREN | {"qa-chain"}
    assert all(r.trace_id == root.id for r in in_trace)
    by_filter = list(client.list_runs(project_name=PROJECT, filter='eq(name, "StrOutputParser")'))
    assert len(by_filter) == 2
    llm_filter = 'and(has(tags, "fake-ls"), eq(run_type, "llm"))'
    tagged = list(client.list_runs(project_name=PROJECT, filter=llm_filter))
    assert len(tagged) == 2
    by_ids = list(client.list_runs(run_ids=[root.id, llms[0].id]))
    assert {r.id for r in by_ids} == {root.id, llms[0].id}
    assert len(list(client.list_runs(project_name=PROJECT, limit=3))) == 3

    server.page_size = 3  # cursor pagination: 8 runs -> 3 pages
    before = sum(r.path == "/runs/query" for r in server.requests)
    assert len(list(client.list_runs(project_name=PROJECT))) == 8
    assert sum(r.path == "/runs/query" for r in server.requests) - before == 3

    read = client.read_run(root.id)
    assert read.name == "qa-chain" and read.outputs == {"output": "answer 1"}
    with_children = client.read_run(root.id, load_child_runs=True)
    assert {c.name for c in with_children.child_runs or []} == CHAIN_CHILDREN

    with pytest.raises(LangSmithNotFoundError):
        client.read_run("00000000-0000-4000-8000-00000000dead")
    server.errors.clear()  # the 404 above was intended


# -- (3) feedback --------------------------------------------------------------------------------


def test_feedback_is_stored_and_listed(server: FakeLangSmith) -> None:
    run_chain()
    flush_tracers()
    root = server.run_named("qa-chain")
    llm = server.run_named("GenericFakeChatModel")
    client = server.client()
    session_id = server.project(PROJECT)["id"]

    # Without trace_id: a synchronous POST /feedback.
    created = client.create_feedback(
        root["id"],
        key="helpfulness",
        score=0.8,
        value="good",
        comment="fine",
        session_id=session_id,
    )
    assert len(server.feedback) == 1
    stored = server.feedback[0]
    assert stored["id"] == str(created.id)
    assert stored["run_id"] == root["id"]
    assert (stored["key"], stored["score"], stored["value"], stored["comment"]) == (
        "helpfulness",
        0.8,
        "good",
        "fine",
    )
    assert stored["session_id"] == session_id

    # With trace_id: queued and sent as a `feedback.<id>` multipart part, so flush first.
    client.create_feedback(
        llm["id"], trace_id=root["id"], key="correct", score=1, session_id=session_id
    )
    client.flush(timeout=5)
    assert [f["key"] for f in server.feedback] == ["helpfulness", "correct"]
    assert server.feedback[1]["run_id"] == llm["id"]
    assert server.feedback[1]["trace_id"] == root["id"]
    assert any(r.path == "/feedback" and r.method == "POST" for r in server.requests)

    listed = list(client.list_feedback(run_ids=[root["id"]]))
    assert [(f.key, f.score, f.comment) for f in listed] == [("helpfulness", 0.8, "fine")]
    assert {f.key for f in client.list_feedback(feedback_key=["correct"])} == {"correct"}
    assert client.read_feedback(created.id).value == "good"


# -- (4) LangGraph -------------------------------------------------------------------------------


class State(TypedDict, total=False):
    question: str
    plan: str
    answer: str


def test_a_langgraph_run_traces_nodes_as_child_runs(server: FakeLangSmith) -> None:
    model = fake_model()

    def plan(state: State) -> State:
        return {"plan": f"think about {state['question']}"}

    def answer(state: State) -> State:
        return {"answer": model.invoke(state["plan"]).text}

    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_node("answer", answer)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "answer")
    builder.add_edge("answer", END)
    graph = builder.compile()

    out = graph.invoke(
        {"question": "2+2"}, config={"run_name": "qa-graph", "metadata": {"case": "graph"}}
    )
    assert out["answer"] == "answer 1"
    flush_tracers()

    root = server.run_named("qa-graph")
    assert root["parent_run_id"] is None
    assert root["outputs"]["answer"] == "answer 1"
    assert root["extra"]["metadata"]["case"] == "graph"
    nodes = {c["name"]: c for c in server.children(root["id"])}
    assert {"plan", "answer"} <= set(nodes)
    assert nodes["plan"]["outputs"] == {"plan": "think about 2+2"}
    assert nodes["answer"]["extra"]["metadata"]["langgraph_node"] == "answer"
    llm = server.run_named("GenericFakeChatModel")
    assert llm["trace_id"] == root["id"]
    assert nodes["answer"]["id"] in llm["parent_run_ids"]


# -- (5) endpoint down ---------------------------------------------------------------------------


def test_tracing_to_a_down_endpoint_neither_raises_nor_blocks_flush(server: FakeLangSmith) -> None:
    server.down = True
    # The default client retries 5xx/connection errors in urllib3 (3 retries, 0/1/2 s backoff)
    # per request, i.e. seconds per batch; fail_fast=True turns that off for tests.
    langsmith.configure(client=server.client(fail_fast=True))

    assert run_chain() == "answer 1"
    flush_tracers()
    assert server.runs == {}
    statuses = {(r.path, r.status) for r in server.requests}
    assert ("/runs/multipart", 503) in statuses

    # Back up: the same client keeps tracing (it fell back to default /info settings).
    server.down = False
    assert run_chain(run_name="after-outage") == "answer 1"
    flush_tracers()
    assert server.run_named("after-outage")["outputs"] == {"output": "answer 1"}


def test_flush_with_the_default_client_is_bounded_by_its_timeout(server: FakeLangSmith) -> None:
    client = server.client()  # default retries
    run_id, now = uuid.uuid4(), datetime.datetime.now(datetime.timezone.utc)
    background = {"trace_id": run_id, "dotted_order": f"{now:%Y%m%dT%H%M%S%fZ}{run_id}"}
    server.hold = threading.Event()
    try:
        client.create_run(
            "held", {"q": "2+2?"}, "chain", id=run_id, start_time=now, project_name=PROJECT,
            **background,  # a run with these is sent by the client's background thread
        )  # fmt: skip
        sent = server.wait_for(lambda: any(r.path.startswith("/runs") for r in server.requests))
        assert sent, [(r.method, r.path) for r in server.requests]
        # The server holds the send for as long as this test wants: only the timeout can
        # end the flush.
        returns(lambda: client.flush(timeout=0.5), "flush(timeout=0.5) with a send held")
        assert server.runs == {}  # it returned with the send still in flight
    finally:
        server.hold.set()
    returns(client.flush, "flush() once the send was let through")
    assert server.runs[str(run_id)]["name"] == "held"  # nothing lost


# -- the server itself ----------------------------------------------------------------------------


def test_unknown_endpoints_get_404_and_are_recorded(no_internet: list[object]) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with FakeLangSmith() as server:
        with pytest.raises(urllib.error.HTTPError) as err:
            opener.open(f"{server.url}/v2/runs/query", timeout=5)
        assert err.value.code == 404
        assert "detail" in json.loads(err.value.read())
        assert server.unknown_requests == [("GET", "/v2/runs/query")]

        server.down = True
        with pytest.raises(urllib.error.HTTPError) as err:
            opener.open(f"{server.url}/info", timeout=5)
        assert err.value.code == 503


def test_filter_expressions() -> None:
    run = {
        "name": "x",
        "run_type": "llm",
        "tags": ["a"],
        "error": None,
        "extra": {"metadata": {"user": "u1", "n": 2}},
    }
    assert compile_filter('eq(name, "x")')(run)
    assert not compile_filter("neq(name, 'x')")(run)
    either = 'or(eq(run_type, "chain"), eq(run_type, "llm"))'
    assert compile_filter(f'and(has(tags, "a"), {either})')(run)
    assert compile_filter('not(eq(error, "true"))')(run)
    assert compile_filter('and(eq(metadata_key, "user"), eq(metadata_value, "u1"))')(run)
    assert not compile_filter('and(eq(metadata_key, "n"), eq(metadata_value, "u1"))')(run)
    with pytest.raises(UnsupportedFilterError):
        compile_filter("gt(latency, 2)")
    with pytest.raises(UnsupportedFilterError):
        compile_filter('search("foo")')
