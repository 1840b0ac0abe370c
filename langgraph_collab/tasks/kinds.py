"""Task kinds: what the simulated user is after, which metrics score it, the paper's lambda.

Example:
    >>> from langgraph_collab.tasks.kinds import task_kind
    >>> task_kind("document").metrics, task_kind("document").token_lambda
    (('bleu', 'interactivity'), 0.0001)
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class TaskKind:
    """Defaults for one kind of task.

    Attributes:
        name: The kind's name (``Task.kind``).
        description: What the simulated user is told about the help it wants.
        metrics: Metric names scoring a conversation of this kind (R_ext first).
        token_lambda: The token penalty's lambda (paper: 5e-4 code and math, 1e-4 documents).
        weights: Default weights that differ from 1 (recorded-only metrics get 0).
        reveal_reference: Whether the simulated user sees the reference (the target document).
    """

    name: str
    description: str
    metrics: tuple[str, ...]
    token_lambda: float = 5e-4
    weights: Mapping[str, float] = field(default_factory=dict)
    reveal_reference: bool = False


KINDS: Mapping[str, TaskKind] = MappingProxyType(
    {
        "math": TaskKind(
            "math",
            "You want help solving a math problem and want the final answer. You know the "
            "problem but not its solution.",
            ("accuracy", "interactivity"),
        ),
        "code": TaskKind(
            "code",
            "You want working Python code for a function you need. You know what it should "
            "do, including details the assistant may need to ask about.",
            ("pass_rate", "interactivity"),
        ),
        "document": TaskKind(
            "document",
            "You want help writing a document. You have a clear picture of the document you "
            "want; the assistant has to find out what should be in it.",
            ("bleu", "interactivity"),
            token_lambda=1e-4,
            reveal_reference=True,
        ),
        "ambiguity": TaskKind(
            "ambiguity",
            "You are asking a question about a short story you shared. You know exactly what "
            "you mean by your question; if the assistant asks, explain which reading you mean.",
            ("clarification", "asked", "interactivity"),
            weights=MappingProxyType({"asked": 0.0}),
        ),
    }
)
"""The four task kinds of the paper, by name."""

CHAT = TaskKind("chat", "", ("interactivity",))
"""Any other kind: interactivity and the token penalty only."""


KNOWN = (*KINDS, CHAT.name)
"""The kinds a task file may name: the paper's four and ``"chat"``."""


class UnknownKindError(ValueError):
    """A task kind that is not one of :data:`KNOWN`."""


def task_kind(name: str) -> TaskKind:
    """The defaults for a kind; kinds other than the paper's four get :data:`CHAT`'s (a
    :class:`~langgraph_collab.Task` built in code may carry its own kind and metrics; task
    files are checked with :func:`check_kind`)."""
    return KINDS.get(name, CHAT)


def check_kind(name: object) -> str:
    """``name`` if it is a known kind, else :class:`UnknownKindError` with a did-you-mean.

    Example:
        >>> check_kind("maths")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        langgraph_collab.tasks.kinds.UnknownKindError: unknown task kind 'maths'; did you ...
    """
    if isinstance(name, str) and name in KNOWN:
        return name
    close = difflib.get_close_matches(str(name).lower(), KNOWN, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ":"
    raise UnknownKindError(
        f"unknown task kind {name!r}{hint} Use one of {', '.join(KINDS)}, or chat "
        "(interactivity only)"
    )
