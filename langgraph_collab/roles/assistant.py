"""The assistant: the policy being scored or trained, a chat model or an existing agent.

Example:
    >>> from langchain_core.language_models import GenericFakeChatModel
    >>> from langchain_core.messages import AIMessage, HumanMessage
    >>> from langgraph_collab import create_assistant
    >>> model = GenericFakeChatModel(messages=iter([AIMessage("Which sum?")]))
    >>> create_assistant(model).invoke({"messages": [HumanMessage("Help me")]}).content
    'Which sum?'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableLambda
from langgraph.pregel import Pregel

from langgraph_collab.errors import DEFAULT_BACKOFF, Backoff
from langgraph_collab.roles.models import load_chat_model
from langgraph_collab.roles.prompts import load_prompt
from langgraph_collab.roles.role import MalformedReply, Role, text_of

AssistantLike = BaseChatModel | str | Pregel | Runnable | Callable[[list[BaseMessage]], Any] | Role


def proactive_prompt() -> str:
    """The "Proactive Base" system prompt: ask when needed, suggest next steps.

    Example:
        >>> isinstance(proactive_prompt(), str) and len(proactive_prompt()) > 0
        True
    """
    return load_prompt("proactive_assistant")


def parse_assistant_reply(reply: Any, state: dict | None = None) -> AIMessage:
    """A fresh ``AIMessage`` holding the reply's text and usage (no id, so that
    ``add_messages`` never merges it with another sample's reply).

    Example:
        >>> reply = parse_assistant_reply(AIMessage("  Which dice?  ", id="run-1"))
        >>> reply.content, reply.id
        ('Which dice?', None)
        >>> parse_assistant_reply("")
        Traceback (most recent call last):
        ...
        langgraph_collab.errors.MalformedReply: the assistant returned an empty reply
    """
    text = text_of(reply).strip()
    if not text:
        raise MalformedReply("the assistant returned an empty reply")
    usage = reply.usage_metadata if isinstance(reply, AIMessage) else None
    return AIMessage(text, usage_metadata=usage)


def create_assistant(
    model: AssistantLike,
    *,
    system_prompt: str | None = None,
    proactive: bool = False,
    retries: int = 1,
    backoff: Backoff = DEFAULT_BACKOFF,
    name: str = "assistant",
) -> Role:
    """Build the assistant role from a chat model, a model spec, a compiled graph or a callable.

    A chat model answers the conversation (``state["messages"]``) after an optional system
    prompt; ``proactive=True`` uses the paper's "Proactive Base" prompt. A compiled
    LangGraph graph (an existing agent, e.g. ``create_agent``) is invoked with
    ``{"messages": ...}`` and its last AI message is the reply. A plain callable receives the
    message list. The assistant never sees the task's hidden goal. Transient errors and
    empty replies are retried ``retries`` times, waiting as ``backoff`` says.

    Example:
        >>> from langchain.agents import create_agent  # doctest: +SKIP
        >>> assistant = create_assistant(create_agent(model, tools))  # doctest: +SKIP
    """
    if isinstance(model, Role):
        return model
    if proactive:
        if system_prompt is not None:
            raise ValueError("Give either system_prompt or proactive=True, not both")
        system_prompt = proactive_prompt()
    prefix = [SystemMessage(system_prompt)] if system_prompt else []

    def conversation(state: dict) -> list[BaseMessage]:
        return prefix + list(state["messages"])

    if isinstance(model, BaseChatModel | str):
        runnable, prepare = load_chat_model(model), conversation
    elif isinstance(model, Pregel):
        runnable, prepare = model, lambda state: {"messages": conversation(state)}
    elif isinstance(model, Runnable) or callable(model):
        runnable = model if isinstance(model, Runnable) else RunnableLambda(model)
        prepare = conversation
    else:
        raise TypeError(f"Cannot use {type(model).__name__} as the assistant")
    return Role(
        name=name,
        model=runnable,
        prepare=prepare,
        parse=parse_assistant_reply,
        retries=retries,
        backoff=backoff,
    )
