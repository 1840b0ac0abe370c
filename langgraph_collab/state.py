"""The state every collaboration graph shares: a task with a hidden goal, and a conversation.

Example:
    >>> from langgraph_collab import Task
    >>> task = Task(id="t1", request="What is 2 + 2?", reference="4", kind="math")
    >>> task.kind
    'math'
"""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

TERMINATE = "[[TERMINATE CHAT]]"
"""The token the simulated user writes to end a conversation."""


class Task(BaseModel):
    """One task: what the user really wants, which only the simulated user sees.

    Attributes:
        id: A stable identifier (records and checkpoints are keyed by it).
        kind: The task kind (``"math"``, ``"code"``, ``"document"``, ``"ambiguity"`` or any
            other name); it selects the default task metric and user description.
        request: The hidden single-turn request: the goal the user has in mind.
        reference: The reference answer or artifact (a final answer, a solution, a target
            document), if there is one.
        description: What kind of help the user is after, shown to the simulated user
            (empty: the task kind's description).
        opening: A fixed first user message (e.g. a story and a question about it); when
            None, the simulated user writes its own.
        metadata: Anything else a metric needs (unit tests, passages, ...).
    """

    model_config = ConfigDict(frozen=True)

    id: str = "task"
    kind: str = "chat"
    request: str = Field(min_length=1)
    reference: str | None = None
    description: str = ""
    opening: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class CollabState(TypedDict, total=False):
    """State of the conversation graph.

    ``messages`` is the conversation as the assistant sees it (user turns are
    ``HumanMessage``, assistant turns ``AIMessage``). ``turn`` counts assistant replies made
    in this run and ``max_turns`` bounds them: the turn budget lives in state, so a graph
    never relies on ``recursion_limit`` to stop. ``done`` is set when the simulated user ends
    the chat; ``failure`` records a role that kept failing, which also ends the run.
    """

    messages: Annotated[list[AnyMessage], add_messages]
    task: Task
    turn: int
    max_turns: int
    done: bool
    failure: str | None
