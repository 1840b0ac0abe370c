"""What a collection run reports: :class:`CollectionSummary` (``summary.json``), its cost
ledger and its fidelity figures.

Example:
    >>> cost_by_role({}, {"judge": (0.15, 0.6)})
    {}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from langgraph_collab.collection.records import (
    ConversationRecord,
)
from langgraph_collab.roles.role import describe_model
from langgraph_collab.roles.user import UserLike, create_simulated_user
from langgraph_collab.state import FidelityCounts
from langgraph_collab.tracing import (
    RoleUsage,
)


class CollectionSummary(BaseModel):
    """What a collection run did: tasks, records written, tasks that failed (with why),
    turns, calls, tokens and cost per role, and how the simulated user behaved in the
    records written (kept and rejected turns by reason, live and in the futures; stop
    reasons; mean turns).

    Example:
        >>> summary = collect(tasks, user=m, assistant=m, judge=m, out_dir="x")  # doctest: +SKIP
        >>> summary.fidelity.shares(), summary.stop_reasons  # doctest: +SKIP
        ({'role_drift': 0.04}, {'user': 3, 'goal_met': 5})
    """

    tasks: int
    recorded: int
    skipped: int
    failed: int
    turns: int
    calls: int
    peak_calls_in_flight: int
    usage: dict[str, RoleUsage]
    runs: int = 1
    calls_total: int = 0
    calls_redone: int = 0
    calls_cut_short: int = 0
    usage_this_run: dict[str, RoleUsage] = {}
    cost_usd: dict[str, float]
    wall_s: float
    records_path: str
    errors: dict[str, str] = {}
    user_model: str | None = None
    fidelity: FidelityCounts = FidelityCounts()
    futures: int = 0
    futures_given_up: int = 0
    stop_reasons: dict[str, int] = {}
    mean_turns: float | None = None
    containment: str | None = None  # the sandbox's, when code tasks were scored

    @property
    def records_per_s(self) -> float:
        return self.recorded / self.wall_s if self.wall_s else 0.0


def cost_by_role(usage: Mapping[str, RoleUsage], prices: Mapping[str, tuple[float, float]]) -> dict:
    """USD per role from its tokens and ``prices`` (USD per million input / output tokens);
    roles without a price are left out.

    Example:
        >>> usage = {"judge": RoleUsage(input_tokens=1_000_000, output_tokens=500_000),
        ...          "assistant": RoleUsage(calls=1)}
        >>> cost_by_role(usage, {"judge": (0.15, 0.60)})
        {'judge': 0.45}
    """
    return {
        role: (u.input_tokens * prices[role][0] + u.output_tokens * prices[role][1]) / 1e6
        for role, u in usage.items()
        if role in prices
    }


GIVE_UP_WARN_SHARE = 0.1
"""A collection run warns when the fidelity guard gave up on more than this share of its
forward samples: their candidates' MRs rest on fewer futures, and a simulator or guard that
misjudges honest turns bends the choice."""


def fidelity_summary(records: Sequence[ConversationRecord], user: UserLike) -> dict[str, Any]:
    """How the simulated user behaved over ``records``, for ``summary.json``: its model, the
    futures and those the fidelity guard gave up on, its kept and rejected turns, why the
    conversations ended and their mean number of turns.

    Example:
        >>> from langgraph_collab.state import Task
        >>> record = ConversationRecord(task=Task(request="hi"), messages=[], stop_reason="user")
        >>> summary = fidelity_summary([record], lambda state: "Hi")
        >>> summary["stop_reasons"], summary["futures"], summary["user_model"]
        ({'user': 1}, 0, '<lambda>')
    """
    stops = Counter(record.stop_reason or "unknown" for record in records)
    turns = [len(record.turns) for record in records]
    candidates = [c for record in records for turn in record.turns for c in turn.candidates]
    return {
        "user_model": describe_model(create_simulated_user(user).model),
        "futures": sum(len(c.samples) for c in candidates),
        "futures_given_up": sum(c.n_gave_up for c in candidates),
        "fidelity": sum((record.fidelity for record in records), FidelityCounts()),
        "stop_reasons": dict(stops),
        "mean_turns": sum(turns) / len(turns) if turns else None,
    }
