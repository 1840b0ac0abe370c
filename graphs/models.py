"""Model specs for the graph entry points, from environment variables.

- ``LANGGRAPH_COLLAB_MODEL``: the spec for every role (default ``local``, the embedded
  SmolLM2-135M-Instruct); ``LANGGRAPH_COLLAB_{USER,ASSISTANT,JUDGE}_MODEL`` override it per
  role. Any :func:`langgraph_collab.load_chat_model` spec works (``openai:gpt-4o-mini``,
  ``local:/path/model.gguf``), and ``fake`` gives a scripted model that plays every role
  (for smoke tests of the server).
- ``LANGGRAPH_COLLAB_MAX_TOKENS`` (default 160) and ``LANGGRAPH_COLLAB_SEED`` (default 0)
  configure local models.
- ``LANGGRAPH_COLLAB_SAMPLES``, ``LANGGRAPH_COLLAB_WINDOW``, ``LANGGRAPH_COLLAB_CANDIDATES``
  and ``LANGGRAPH_COLLAB_MAX_TURNS`` size the graphs (see each module).

Example:
    >>> import os
    >>> os.environ["LANGGRAPH_COLLAB_MODEL"] = "fake"
    >>> spec_for("judge"), type(model_for("judge")).__name__
    ('fake', 'ScriptedChatModel')
    >>> del os.environ["LANGGRAPH_COLLAB_MODEL"]
"""

from __future__ import annotations

import functools
import json
import os

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage

from langgraph_collab import load_chat_model
from langgraph_collab.state import TERMINATE
from langgraph_collab.testing import ScriptedChatModel

PREFIX = "LANGGRAPH_COLLAB_"
ROLES = ("user", "assistant", "judge")


def setting(name: str, default: int) -> int:
    """An integer setting ``LANGGRAPH_COLLAB_<NAME>``."""
    value = os.environ.get(PREFIX + name.upper(), "").strip()
    try:
        return int(value) if value else default
    except ValueError as error:
        raise ValueError(f"{PREFIX}{name.upper()} must be an integer, not {value!r}") from error


def spec_for(role: str) -> str:
    """The model spec for ``role`` (``user``, ``assistant`` or ``judge``)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    spec = os.environ.get(f"{PREFIX}{role.upper()}_MODEL") or os.environ.get(f"{PREFIX}MODEL")
    return (spec or "local").strip()


def model_for(role: str) -> BaseChatModel:
    """The chat model for ``role``; roles with the same spec share one instance."""
    return _load(spec_for(role))


@functools.cache
def _load(spec: str) -> BaseChatModel:
    if spec == "fake":
        return ScriptedChatModel(script=fake_reply)
    if spec == "local" or spec.startswith("local:"):
        options = {"max_tokens": setting("max_tokens", 160), "seed": setting("seed", 0)}
        return load_chat_model(spec, **options)
    return load_chat_model(spec)


def fake_reply(messages: list[BaseMessage]) -> str:
    """A scripted reply for whichever role is asking: judge JSON, a user turn, an answer."""
    text = "\n".join(message.text for message in messages)
    if '"final_artifact"' in text:
        verdict = {"thought": "ok", "final_artifact": "", "interactivity": "B", "correct": None}
        return json.dumps(verdict)
    if "You are playing a human user" in text:
        spoken = sum(1 for message in messages if message.type == "ai")
        return f"Thanks, that helps. {TERMINATE}" if spoken >= 2 else "Can you help me plan it?"
    asked = [m.text for m in messages if isinstance(m, HumanMessage)]
    return f"Happy to help with {asked[-1][:40]!r}. What matters most to you?" if asked else "Hi!"
