"""The state every collaboration graph shares: a task with a hidden goal, and a conversation.

Example:
    >>> from langgraph_collab import Task
    >>> task = Task(id="t1", request="What is 2 + 2?", reference="4", kind="math")
    >>> task.kind
    'math'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage
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

    Example:
        >>> task = Task(kind="math", request="What is P(sum = 7) for two dice?", reference="1/6")
        >>> task.id, task.kind, task.reference
        ('task', 'math', '1/6')
    """

    model_config = ConfigDict(frozen=True)

    id: str = "task"
    kind: str = "chat"
    request: str = Field(min_length=1)
    reference: str | None = None
    description: str = ""
    opening: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


StopReason = Literal["user", "goal_met", "budget", "failure"]
"""Why a conversation ended: the simulated user said the stop token, the task's goal was
met (grounded stop), the turn budget ran out, or a role failed for good."""


class FidelityCounts(BaseModel):
    """Simulated-user turns of a conversation (or many): how many were generated and kept,
    and how many were rejected by a fidelity check and regenerated, by the first check each
    failed (see :mod:`langgraph_collab.reward.fidelity`).

    Example:
        >>> counts = FidelityCounts(kept=3, rejected={"role_drift": 1})
        >>> (counts + counts).shares()
        {'role_drift': 0.25}
    """

    kept: int = 0
    rejected: dict[str, int] = Field(default_factory=dict)

    def __add__(self, other: FidelityCounts) -> FidelityCounts:
        merged = dict(self.rejected)
        for reason, n in other.rejected.items():
            merged[reason] = merged.get(reason, 0) + n
        return FidelityCounts(kept=self.kept + other.kept, rejected=merged)

    @property
    def generated(self) -> int:
        """User turns the simulator wrote, kept or not."""
        return self.kept + sum(self.rejected.values())

    def shares(self) -> dict[str, float]:
        """Share of the generated user turns rejected, by reason."""
        total = self.generated
        return {reason: n / total for reason, n in self.rejected.items()} if total else {}


def add_fidelity(left: FidelityCounts | None, right: FidelityCounts | None) -> FidelityCounts:
    """Reducer: fidelity counts, summed."""
    return (left or FidelityCounts()) + (right or FidelityCounts())


class ConversationState(TypedDict, total=False):
    """State of the conversation graph.

    ``messages`` is the conversation as the assistant sees it (user turns are
    ``HumanMessage``, assistant turns ``AIMessage``). ``turn`` counts assistant replies made
    in this run and ``max_turns`` bounds them: the turn budget lives in state, so a graph
    never relies on ``recursion_limit`` to stop. ``done`` is set when the simulated user ends
    the chat (or, with grounded stop, when its goal is met); ``failure`` records a role
    that kept failing, which also ends the run; ``stop_reason`` says which of these ended
    it. ``fidelity`` counts the simulated user's kept and rejected turns.
    """

    messages: Annotated[list[AnyMessage], add_messages]
    task: Task
    turn: int
    max_turns: int
    done: bool
    failure: str | None
    stop_reason: StopReason | None
    fidelity: Annotated[FidelityCounts, add_fidelity]


Message = dict[str, str]
_ROLES = {HumanMessage: "user", AIMessage: "assistant", SystemMessage: "system"}


def to_dicts(messages: Sequence[BaseMessage]) -> list[Message]:
    """Messages as ``{"role", "content"}`` dicts, TRL's form (tool traffic and empty
    replies dropped).

    Example:
        >>> to_dicts([HumanMessage("hi")])
        [{'role': 'user', 'content': 'hi'}]
    """
    out = []
    for message in messages:
        role = next((r for cls, r in _ROLES.items() if isinstance(message, cls)), None)
        if role and message.text:
            out.append({"role": role, "content": message.text})
    return out
