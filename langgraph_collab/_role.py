"""What the simulated user, the assistant and the judges share: a named, retried Runnable.

A role takes the conversation state (``{"messages": [...], "task": Task}``) and returns
its output (a message, or a judgement). Failures after the retries raise; the graph node
around a role turns them into a recorded ``failure`` in state instead of a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.errors import GraphBubbleUp

RETRY_WAIT = {"initial": 0.05, "max": 2.0, "exp_base": 2.0, "jitter": 0.05}


class MalformedReply(ValueError):
    """A model answered with something a role cannot use (empty, off-role, unparseable)."""


class Role(Runnable[dict, Any]):
    """A named participant whose model calls are tagged ``role:<name>`` and retried.

    Example:
        >>> from langchain_core.runnables import RunnableLambda
        >>> echo = Role(RunnableLambda(lambda state: state["messages"][-1]), name="echo")
        >>> echo.invoke({"messages": [HumanMessage("hi")]}).content
        'hi'
    """

    def __init__(self, runnable: Runnable, *, name: str, retries: int = 0) -> None:
        self.name = name
        if retries > 0:
            runnable = runnable.with_retry(
                stop_after_attempt=retries + 1, exponential_jitter_params=RETRY_WAIT
            )
        self.runnable = runnable.with_config(run_name=name, tags=[f"role:{name}"])

    def invoke(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self.runnable.invoke(input, config, **kwargs)

    async def ainvoke(
        self, input: dict, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        return await self.runnable.ainvoke(input, config, **kwargs)


def text_of(reply: Any) -> str:
    """The text of a model reply: a message, a string, or a ``{"messages": [...]}`` state."""
    if isinstance(reply, dict) and "messages" in reply:
        ai = [m for m in reply["messages"] if isinstance(m, AIMessage)]
        if not ai:
            raise MalformedReply("the agent returned no AI message")
        reply = ai[-1]
    if isinstance(reply, BaseMessage):
        return reply.text
    if isinstance(reply, str):
        return reply
    raise MalformedReply(f"expected a message or a string, got {type(reply).__name__}")


def transcript(messages: list[BaseMessage]) -> str:
    """The conversation as plain text, one ``User:``/``Assistant:`` paragraph per turn."""
    lines = []
    for message in messages:
        if isinstance(message, HumanMessage):
            lines.append(f"User: {message.text}")
        elif isinstance(message, AIMessage) and message.text:
            lines.append(f"Assistant: {message.text}")
    return "\n\n".join(lines)


def role_node(role: Role, update: Callable[[dict, Any], dict]) -> RunnableLambda:
    """A graph node running ``role``; a role that still fails after its retries ends the
    run with ``failure`` recorded in state rather than raising (interrupts pass through)."""

    def failed(error: Exception) -> dict:
        return {"done": True, "failure": f"{role.name}: {type(error).__name__}: {error}"}

    def run(state: dict, config: RunnableConfig) -> dict:
        try:
            reply = role.invoke(state, config)
        except GraphBubbleUp:
            raise
        except Exception as error:
            return failed(error)
        return update(state, reply)

    async def arun(state: dict, config: RunnableConfig) -> dict:
        try:
            reply = await role.ainvoke(state, config)
        except GraphBubbleUp:
            raise
        except Exception as error:
            return failed(error)
        return update(state, reply)

    return RunnableLambda(run, afunc=arun, name=role.name)
