"""Task sets. For now: the bundled demo conversation used by the quickstart.

Example:
    >>> from langgraph_collab.tasks import demo_example
    >>> task, conversation, candidates = demo_example()
    >>> len(candidates)
    2
"""

from __future__ import annotations

import json
from importlib import resources

from langchain_core.messages import BaseMessage
from langchain_core.messages.utils import convert_to_messages

from langgraph_collab.state import Task


def demo_example() -> tuple[Task, list[BaseMessage], list[str]]:
    """The bundled demo: a task, a conversation up to the user's turn, two candidate replies
    (one answers at once, one asks first)."""
    raw = json.loads(resources.files(__name__).joinpath("demo.json").read_text(encoding="utf-8"))
    return Task(**raw["task"]), convert_to_messages(raw["conversation"]), raw["candidates"]
