"""Fake chat models for tests and benchmarks: scripted replies, injected latency, and a
record of how many calls were in flight at once.

Example:
    >>> from langgraph_collab.testing import ScriptedChatModel
    >>> model = ScriptedChatModel(script=lambda messages: f"echo {len(messages)}")
    >>> model.invoke("hi").content
    'echo 1'
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

Script = Callable[[list[BaseMessage]], str] | Sequence[str]


class ScriptedChatModel(BaseChatModel):
    """Replies from ``script`` (a function of the messages, or texts used in turn, cycling),
    each a fresh ``AIMessage`` with word-count usage. ``latency`` seconds are slept per
    call (``asyncio.sleep`` when async); ``max_in_flight`` records peak concurrency. A
    reply that is an ``Exception`` instance's text is not special: raise from the script
    function to simulate errors.
    """

    script: Any
    latency: float = 0.0
    calls: int = 0
    max_in_flight: int = 0

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _cycle: Any = PrivateAttr(default=None)
    _in_flight: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _reply(self, messages: list[BaseMessage]) -> str:
        if callable(self.script):
            return self.script(messages)
        with self._lock:
            if self._cycle is None:
                self._cycle = itertools.cycle(list(self.script))
            return next(self._cycle)

    def _enter(self) -> None:
        with self._lock:
            self.calls += 1
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _result(self, messages: list[BaseMessage]) -> ChatResult:
        text = self._reply(messages)
        prompt_words = sum(len(m.text.split()) for m in messages)
        usage = UsageMetadata(
            input_tokens=prompt_words,
            output_tokens=len(text.split()),
            total_tokens=prompt_words + len(text.split()),
        )
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(text, usage_metadata=usage))]
        )

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self._enter()
        try:
            time.sleep(self.latency)
            return self._result(messages)
        finally:
            self._leave()

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self._enter()
        try:
            await asyncio.sleep(self.latency)
            return self._result(messages)
        finally:
            self._leave()


def separate_judges_script(artifact: str) -> Callable[[list[BaseMessage]], str]:
    """A script answering the three separate judges (``create_judge(..., combined=False)``):
    the artifact is ``artifact``, the grade A and the answer correct.

    Example:
        >>> model = ScriptedChatModel(script=separate_judges_script("42"))
    """

    def script(messages: list[BaseMessage]) -> str:
        prompt = messages[-1].text
        if "equivalent to the reference answer" in prompt:
            return '{"thought": "same", "correct": true}'
        if "Grade how well" in prompt:
            return '{"thought": "asked", "interactivity": "A"}'
        return json.dumps({"final_artifact": artifact})

    return script
