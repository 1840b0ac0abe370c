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
from langchain_core.runnables.config import ensure_config, patch_config
from langgraph.errors import GraphBubbleUp


class MalformedReply(ValueError):
    """A model answered with something a role cannot use (empty, off-role, unparseable)."""


class Role(Runnable[dict, Any]):
    """A named participant: ``parse(model(prepare(state)), state)``, retried, traced as one
    run named ``name`` and tagged ``role:<name>`` (inherited by its model calls).

    One run per role call, with the model call under it: the whole retry loop lives here
    rather than in nested Runnable wrappers, which keeps traces readable and the per-call
    overhead small (forward sampling makes many short calls).

    Example:
        >>> from langchain_core.runnables import RunnableLambda
        >>> echo = Role(name="echo", model=RunnableLambda(lambda messages: messages[-1]),
        ...             prepare=lambda state: state["messages"])
        >>> echo.invoke({"messages": [HumanMessage("hi")]}).content
        'hi'
    """

    def __init__(
        self,
        *,
        name: str,
        model: Runnable,
        prepare: Callable[[dict], Any] = lambda state: state,
        parse: Callable[[Any, dict], Any] = lambda reply, state: reply,
        retries: int = 0,
    ) -> None:
        self.name = name
        self.model = model
        self.prepare = prepare
        self.parse = parse
        self.retries = retries

    def tagged(self, config: RunnableConfig | None) -> RunnableConfig:
        """``config`` with this role's ``role:<name>`` tag added."""
        config = ensure_config(config)
        return {**config, "tags": [*config.get("tags", []), f"role:{self.name}"]}

    def respond(self, state: dict, config: RunnableConfig | None = None) -> Any:
        """Run the role without a run of its own (for a graph node named after the role):
        ``config`` should come from :meth:`tagged`."""
        error: Exception | None = None
        for _ in range(self.retries + 1):
            try:
                return self.parse(self.model.invoke(self.prepare(state), config), state)
            except GraphBubbleUp:
                raise
            except Exception as failure:
                error = failure
        raise error

    async def arespond(self, state: dict, config: RunnableConfig | None = None) -> Any:
        """Async :meth:`respond`."""
        error: Exception | None = None
        for _ in range(self.retries + 1):
            try:
                return self.parse(await self.model.ainvoke(self.prepare(state), config), state)
            except GraphBubbleUp:
                raise
            except Exception as failure:
                error = failure
        raise error

    def invoke(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        def run(state: dict, run_manager: Any, config: RunnableConfig) -> Any:
            return self.respond(state, patch_config(config, callbacks=run_manager.get_child()))

        config = {**self.tagged(config), "run_name": self.name}
        return self._call_with_config(run, input, config)

    async def ainvoke(
        self, input: dict, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        async def run(state: dict, run_manager: Any, config: RunnableConfig) -> Any:
            child = patch_config(config, callbacks=run_manager.get_child())
            return await self.arespond(state, child)

        config = {**self.tagged(config), "run_name": self.name}
        return await self._acall_with_config(run, input, config)


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
    """A graph node running ``role`` (the node's run is the role's run). A role that still
    fails after its retries ends the run with ``failure`` recorded in state rather than
    raising; interrupts pass through."""

    def failed(error: Exception) -> dict:
        return {"done": True, "failure": f"{role.name}: {type(error).__name__}: {error}"}

    def run(state: dict, config: RunnableConfig) -> dict:
        try:
            reply = role.respond(state, role.tagged(config))
        except GraphBubbleUp:
            raise
        except Exception as error:
            return failed(error)
        return update(state, reply)

    async def arun(state: dict, config: RunnableConfig) -> dict:
        try:
            reply = await role.arespond(state, role.tagged(config))
        except GraphBubbleUp:
            raise
        except Exception as error:
            return failed(error)
        return update(state, reply)

    return RunnableLambda(run, afunc=arun, name=role.name)
