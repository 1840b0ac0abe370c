"""The simulated user: plays a person with a hidden goal, as CollabLLM's user simulator.

Example:
    >>> from langchain_core.language_models import GenericFakeChatModel
    >>> from langchain_core.messages import AIMessage
    >>> from langgraph_collab import Task, create_simulated_user
    >>> model = GenericFakeChatModel(messages=iter([AIMessage("Can you help me with a sum?")]))
    >>> user = create_simulated_user(model)
    >>> user.invoke({"messages": [], "task": Task(request="What is 2 + 2?")}).content
    'Can you help me with a sum?'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from langgraph_collab.errors import DEFAULT_BACKOFF, Backoff
from langgraph_collab.roles.models import load_chat_model
from langgraph_collab.roles.prompts import load_prompt, render
from langgraph_collab.roles.role import MalformedReply, Role, text_of
from langgraph_collab.state import TERMINATE, Task
from langgraph_collab.tasks.kinds import task_kind

OPENING = "(The chat starts now. Write your first message to the assistant.)"
_SPEAKER_PREFIX = re.compile(r"^\s*(\*\*)?(user|me|human)(\*\*)?\s*:\s*", re.IGNORECASE)
_OFF_ROLE = re.compile(r"^\s*(\*\*)?(assistant|ai)(\*\*)?\s*:", re.IGNORECASE)

UserLike = BaseChatModel | str | Runnable | Callable[[dict], Any] | Role


def user_context(task: Task) -> str:
    """What the simulated user knows beyond the request: the task (or kind) description,
    the target document for kinds that reveal it (never shown to the assistant), and
    ``metadata["user_context"]``.

    Example:
        >>> task = Task(kind="chat", request="Plan a trip.", description="You are a student.",
        ...             metadata={"user_context": "You have 300 euros."})
        >>> user_context(task)
        '\\nYou are a student.\\n\\nYou have 300 euros.\\n'
    """
    kind = task_kind(task.kind)
    description = task.description or kind.description
    parts = [description] if description else []
    if kind.reveal_reference and task.reference:
        parts.append(
            "The document you have in mind (use it to answer questions and to judge drafts; "
            f"never paste it):\n{task.reference}"
        )
    if extra := task.metadata.get("user_context"):
        parts.append(str(extra))
    return "".join(f"\n{part}\n" for part in parts)


def user_view(state: dict, prompt: str) -> list[BaseMessage]:
    """The conversation as the simulated user sees it: its goal as a system prompt and the
    roles swapped (the assistant's turns arrive as the other party's messages).

    Example:
        >>> state = {"task": Task(request="Plan a trip."),
        ...          "messages": [HumanMessage("Help me plan a trip"), AIMessage("Where to?")]}
        >>> [type(m).__name__ for m in user_view(state, "Your goal: {goal}{context}{terminate}")]
        ['SystemMessage', 'HumanMessage', 'AIMessage', 'HumanMessage']
    """
    task: Task = state["task"]
    system = render(prompt, goal=task.request, context=user_context(task), terminate=TERMINATE)
    view: list[BaseMessage] = [SystemMessage(system), HumanMessage(OPENING)]
    for message in state.get("messages", []):
        if isinstance(message, HumanMessage):
            view.append(AIMessage(message.text))
        elif isinstance(message, AIMessage) and message.text:
            view.append(HumanMessage(message.text))
    return view


def parse_user_reply(reply: Any, state: dict | None = None) -> HumanMessage:
    """A fresh ``HumanMessage`` from a user reply; empty or off-role text is malformed
    (a :class:`~langgraph_collab.errors.MalformedReply`, so the role asks again).

    Example:
        >>> parse_user_reply("User: which dice do you mean?").content
        'which dice do you mean?'
        >>> parse_user_reply("Assistant: Sure, here it is.")
        Traceback (most recent call last):
        ...
        langgraph_collab.errors.MalformedReply: the simulated user answered as the assistant
    """
    text = _SPEAKER_PREFIX.sub("", text_of(reply).strip(), count=1).strip()
    if not text:
        raise MalformedReply("the simulated user returned an empty message")
    if _OFF_ROLE.match(text):
        raise MalformedReply("the simulated user answered as the assistant")
    return HumanMessage(text)


class SimulatedUser(Role):
    """The simulated user's role: writes ``Task.opening`` itself when the task fixes the
    first message, and asks its model (or callable) for everything else.

    Example:
        >>> user = create_simulated_user(lambda state: "Thanks! [[TERMINATE CHAT]]")
        >>> task = Task(request="Explain this story.", opening="Here is my story: ...")
        >>> user.invoke({"messages": [], "task": task}).content
        'Here is my story: ...'
        >>> user.invoke({"messages": [HumanMessage("Here is my story: ...")], "task": task}).content
        'Thanks! [[TERMINATE CHAT]]'
    """

    @staticmethod
    def _opening(state: dict) -> HumanMessage | None:
        task: Task = state["task"]
        if task.opening and not state.get("messages"):
            return HumanMessage(task.opening)
        return None

    def respond(self, state: dict, config: RunnableConfig | None = None) -> Any:
        return self._opening(state) or super().respond(state, config)

    async def arespond(self, state: dict, config: RunnableConfig | None = None) -> Any:
        return self._opening(state) or await super().arespond(state, config)


def create_simulated_user(
    model: UserLike,
    *,
    prompt: str | None = None,
    temperature: float | None = 1.0,
    retries: int = 2,
    backoff: Backoff = DEFAULT_BACKOFF,
    name: str = "simulated_user",
) -> Role:
    """Build the simulated user from a chat model, a model spec, or any Runnable/callable.

    With a chat model, the user is prompted with the task's hidden goal, sees the
    conversation with roles swapped, and ends the chat with ``[[TERMINATE CHAT]]``. A
    Runnable or plain callable (a rule-based simulator) gets the state
    ``{"messages", "task"}`` and returns the next user message as text or a message.
    Empty or off-role replies are retried ``retries`` times, then raise.

    Args:
        model: A ``BaseChatModel``, a spec for ``load_chat_model``, or a Runnable/callable.
        prompt: A template with ``{goal}``, ``{context}`` and ``{terminate}`` fields.
        temperature: Sampling temperature bound to the model (the paper uses 1.0); None
            leaves the model's own.
        retries: Extra attempts after an empty or off-role reply or a transient error.
        backoff: How long to wait between attempts (:class:`~langgraph_collab.errors.Backoff`).
        name: Run name and ``role:`` tag in traces.

    Example:
        >>> def scripted(state):
        ...     return "Thanks! [[TERMINATE CHAT]]" if state["messages"] else "Hi, help me?"
        >>> user = create_simulated_user(scripted)
        >>> user.invoke({"messages": [], "task": Task(request="Help with dice.")}).content
        'Hi, help me?'
    """
    if isinstance(model, Role):
        return model
    if isinstance(model, BaseChatModel | str):
        chat: Runnable = load_chat_model(model)
        if temperature is not None:
            chat = chat.bind(temperature=temperature)
        template = prompt or load_prompt("simulated_user")
        return SimulatedUser(
            name=name,
            model=chat,
            prepare=lambda state: user_view(state, template),
            parse=parse_user_reply,
            retries=retries,
            backoff=backoff,
        )
    if isinstance(model, Runnable) or callable(model):
        runnable = model if isinstance(model, Runnable) else RunnableLambda(model)
        return SimulatedUser(
            name=name, model=runnable, parse=parse_user_reply, retries=retries, backoff=backoff
        )
    raise TypeError(f"Cannot play the user with {type(model).__name__}")


def is_terminal(message: BaseMessage) -> bool:
    """Whether a user message ends the chat (it holds ``[[TERMINATE CHAT]]``).

    Example:
        >>> is_terminal(HumanMessage("Thanks! [[TERMINATE CHAT]]")), is_terminal(HumanMessage("Hi"))
        (True, False)
    """
    return TERMINATE in message.text
