"""A library leaves the process as it found it: no logger level changed (math-verify's
warning is dropped for our own calls only), no environment variable written while tracing,
and the identical-call cache keys a model by the endpoint it calls, however it was set."""

from __future__ import annotations

import logging
import os

import pytest

from tests.test_fake_langsmith import no_internet, server, traced_env  # noqa: F401

UNTIMED = "Timeout is disabled"


def test_math_verify_keeps_its_level_and_other_callers_keep_its_warning(monkeypatch, caplog):
    import math_verify.grader
    import math_verify.parser

    from langgraph_collab.reward.metrics.answers import compare

    for name in ("math_verify", "math_verify.parser", "math_verify.grader"):
        assert logging.getLogger(name).level == logging.NOTSET, name
    for module in (math_verify.parser, math_verify.grader):  # its warning shows once a process
        monkeypatch.setattr(module, "TIMEOUT_WARNING_SHOWN", False)
    with caplog.at_level(logging.WARNING):
        assert compare("1/2", "0.5") is True  # ours: untimed on purpose, bounded by length
    assert not [r for r in caplog.records if r.getMessage().startswith(UNTIMED)]
    for module in (math_verify.parser, math_verify.grader):
        monkeypatch.setattr(module, "TIMEOUT_WARNING_SHOWN", False)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        math_verify.parse("$1/2$", parsing_timeout=None)  # another caller's untimed call
    assert [r for r in caplog.records if r.getMessage().startswith(UNTIMED)]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_traced_collection_writes_no_environment_variable(server, tmp_path, monkeypatch):  # noqa: F811
    from tests.conftest import collect_scripted

    environ = type(os.environ)
    writes: list[str] = []
    set_item, del_item = environ.__setitem__, environ.__delitem__

    def setitem(self, key, value):
        writes.append(key)
        set_item(self, key, value)

    def delitem(self, key):
        writes.append(key)
        del_item(self, key)

    monkeypatch.setattr(environ, "__setitem__", setitem)
    monkeypatch.setattr(environ, "__delitem__", delitem)
    collect_scripted(tmp_path)
    monkeypatch.undo()
    assert writes == []
    assert server.runs  # it was traced


def test_the_cache_key_names_the_endpoint_however_it_was_set(monkeypatch):
    from langchain_openai import ChatOpenAI

    from langgraph_collab.roles.cache import cached, create_call_cache

    def key(**options) -> str:
        model = ChatOpenAI(model="gpt-4o-mini", temperature=0, api_key="sk-test", **options)
        return cached(model, create_call_cache()).cache.identity

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    default = key()
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8001/v1")
    from_environment = key()
    monkeypatch.delenv("OPENAI_BASE_URL")
    given = key(base_url="http://127.0.0.1:8001/v1")
    assert "api.openai.com" in default and "127.0.0.1:8001" in from_environment
    assert from_environment == given != default


def test_one_cache_never_mixes_replies_of_two_endpoints(monkeypatch):
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration
    from langchain_openai import ChatOpenAI

    from langgraph_collab.roles.cache import cached, create_call_cache

    store = create_call_cache()
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8001/v1")
    first = cached(ChatOpenAI(model="m", temperature=0, api_key="sk-test"), store)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8002/v1")
    second = cached(ChatOpenAI(model="m", temperature=0, api_key="sk-test"), store)
    llm_string = first._get_llm_string()
    assert llm_string == second._get_llm_string()  # LangChain's own key cannot tell them apart
    first.cache.update("prompt", llm_string, [ChatGeneration(message=AIMessage("from 8001"))])
    assert second.cache.lookup("prompt", llm_string) is None
