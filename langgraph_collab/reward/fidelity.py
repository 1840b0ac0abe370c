"""Simulator fidelity: is each simulated-user turn one a real person with this goal would write?

The MR is only as good as the simulated user playing the futures, and small open simulators
drift into the assistant's role (the paper's warning). Every user turn can be checked:

- ``role_drift``: the "user" writes like an assistant: offers help in an assistant's words,
  writes both sides, states a solution of its own, hands over code it does not claim;
- ``goal_leak``: it pastes the hidden request, the reference answer or the target document
  verbatim or near-verbatim, or states the reference answer before the assistant did;
- ``off_goal``: it talks about something that has (almost) nothing to do with the goal or
  the chat;
- ``garbled``: empty, endless, repetitive or unreadable text.

The rules (:mod:`langgraph_collab.reward.fidelity_rules`) are context-aware and cost no model call:
a polite "Sure," answer, an echo of the assistant, one's own error, code, data or draft are
a real user's. Each check is a plain function ``(text, context) -> reason | None`` a user
can replace or extend; :func:`llm_check` adds an LLM-graded verdict (a structured call to a
judge model, off by default) for what rules cannot see; placed after the rules, it is asked
only about the turns they pass. ``benchmarks/fidelity_corpus.py`` measures any set of
checks on a labelled corpus. A
:class:`FidelityGuard` runs them on every user turn inside the loop: a failing turn is
regenerated (bounded tries, counted per reason) and a turn that still fails ends the
future as a failure, which masks it like any failed sample.

Example:
    >>> from langgraph_collab import Task
    >>> guard = create_fidelity_guard()
    >>> task = Task(kind="math", request="What is the sum of 17 and 25?", reference="42")
    >>> guard.check("Hi! Can you help me add two numbers?", task=task, messages=[])
    []
    >>> guard.check("Certainly! I'd be happy to help. The answer is 42.", task=task, messages=[])
    ['role_drift', 'goal_leak']
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langsmith.run_helpers import get_current_run_tree
from pydantic import BaseModel, Field

from langgraph_collab.reward.fidelity_rules import (
    RULE_CHECKS,
    Check,
    TurnContext,
    garbled,
    goal_leak,
    off_goal,
    role_drift,
)
from langgraph_collab.reward.user_text import sounds_like_assistant
from langgraph_collab.state import TERMINATE, FidelityCounts, Task

GAVE_UP = "simulated_user: fidelity: "
"""How a conversation the guard gave up on records its failure (see :func:`gave_up`)."""


class FidelityReply(BaseModel):
    """The structured verdict asked of an LLM fidelity judge (:func:`llm_check`).

    Example:
        >>> FidelityReply.model_validate_json('{"faithful": false, "reason": "role_drift"}')
        FidelityReply(faithful=False, reason='role_drift')
    """

    faithful: bool = Field(description="True if a real user with this goal could write it.")
    reason: Literal["ok", "role_drift", "goal_leak", "off_goal", "garbled"] = Field(
        description="ok, or the main problem."
    )


def llm_check(model: BaseChatModel | str, *, prompt: str | None = None, retries: int = 2) -> Check:
    """An LLM-graded check: one call to ``model`` per user turn (a role named
    ``fidelity_judge``, retried like the others), asking whether a real user with the
    hidden goal could have written it. Its reason is reported as ``llm:<reason>``. Slower
    and costlier than the rules: off by default.

    Example:
        >>> guard = create_fidelity_guard(
        ...     extra_checks={"llm": llm_check("openai:gpt-4o-mini")})  # doctest: +SKIP
    """
    from langgraph_collab.roles.judge import tolerant_parse
    from langgraph_collab.roles.models import load_chat_model
    from langgraph_collab.roles.prompts import load_prompt, render
    from langgraph_collab.roles.role import Role, text_of

    template = prompt or load_prompt("fidelity")

    def question(context: TurnContext) -> str:
        return render(
            template,
            goal=context.task.request,
            last_reply=context.last_reply or "(the chat has not started yet)",
            turn=context.turn,
        )

    role = Role(
        name="fidelity_judge",
        model=load_chat_model(model),
        prepare=question,
        parse=lambda reply, _: tolerant_parse(text_of(reply), FidelityReply),
        retries=retries,
    )

    def check(text: str, context: TurnContext) -> str | None:
        verdict = role.invoke(TurnContext(context.task, context.messages, turn=text))
        return None if verdict.faithful else f"llm:{verdict.reason}"

    return check


@dataclass(frozen=True)
class FidelityGuard:
    """Checks every simulated-user turn and decides how often a failing one is regenerated.

    ``checks`` run in order, by name; :meth:`check` returns the names of those that fail.
    ``retries`` regenerations follow a failing turn before the future is given up.

    Example:
        >>> from langgraph_collab import Task
        >>> guard = FidelityGuard(checks={"short": lambda text, context: len(text) < 5 or None})
        >>> guard.check("Hi", task=Task(request="Say hi"))
        ['short']
        >>> guard.rules_only
        False
    """

    checks: Mapping[str, Check] = field(default_factory=lambda: dict(RULE_CHECKS))
    retries: int = 2

    @property
    def rules_only(self) -> bool:
        """Whether every check is a built-in rule (cheap, never blocking)."""
        return all(check in RULE_CHECKS.values() for check in self.checks.values())

    def check(self, text: str, *, task: Task, messages: Sequence[BaseMessage] = ()) -> list[str]:
        """The names of the checks ``text`` fails, as the next user turn after
        ``messages`` (the stop token itself is never held against a turn)."""
        return list(self._failures(text, task, messages))

    def first_failure(
        self, text: str, *, task: Task, messages: Sequence[BaseMessage] = ()
    ) -> str | None:
        """The first check ``text`` fails, or None; later checks are not run (a rejected
        turn costs no LLM check placed after the rules)."""
        return next(self._failures(text, task, messages), None)

    def _failures(self, text: str, task: Task, messages: Sequence[BaseMessage]):
        context = TurnContext(task=task, messages=messages)
        body = text.replace(TERMINATE, "").strip()
        if not body:
            if TERMINATE not in text:
                yield "garbled"
            return
        yield from (name for name, check in self.checks.items() if check(body, context))


def create_fidelity_guard(
    *,
    checks: Mapping[str, Check] | None = None,
    extra_checks: Mapping[str, Check] | None = None,
    retries: int = 2,
) -> FidelityGuard:
    """A :class:`FidelityGuard` with the rule checks (or ``checks``), plus ``extra_checks``
    (e.g. ``{"llm": llm_check(judge_model)}``); ``retries`` regenerations per turn.

    Example:
        >>> def no_emoji(text, context):
        ...     return "emoji" if any(ord(c) > 0x1F000 for c in text) else None
        >>> guard = create_fidelity_guard(extra_checks={"emoji": no_emoji}, retries=1)
        >>> sorted(guard.checks)
        ['emoji', 'garbled', 'goal_leak', 'off_goal', 'role_drift']
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    chosen = dict(RULE_CHECKS if checks is None else checks) | dict(extra_checks or {})
    for name, check in chosen.items():
        if not callable(check):
            raise TypeError(f"fidelity check {name!r} is not callable")
    return FidelityGuard(checks=chosen, retries=retries)


def _first_failure(guard: FidelityGuard | None, reply: BaseMessage, state: dict) -> str | None:
    if guard is None or _fixed_opening(state):
        return None
    return guard.first_failure(reply.text, task=state["task"], messages=state.get("messages") or [])


async def _afirst_failure(
    guard: FidelityGuard | None, reply: BaseMessage, state: dict
) -> str | None:
    if guard is not None and not guard.rules_only:  # an LLM check makes a blocking call
        return await asyncio.to_thread(_first_failure, guard, reply, state)
    return _first_failure(guard, reply, state)


def _fixed_opening(state: dict) -> bool:
    return bool(state["task"].opening) and not state.get("messages")


class UserTurn(NamedTuple):
    """A simulated-user turn that passed the guard (``message``), or None with the
    ``failure`` that ends the conversation; ``counts`` either way (see :func:`auser_turn`).

    Example:
        >>> turn = UserTurn(None, FidelityCounts(rejected={"garbled": 3}), GAVE_UP + "...")
        >>> turn.message is None, gave_up(turn.failure)
        (True, True)
    """

    message: HumanMessage | None
    counts: FidelityCounts
    failure: str | None


def _settle(
    reply: BaseMessage, reason: str | None, rejected: dict[str, int], state: dict
) -> UserTurn | None:
    if reason is None:
        kept = 0 if _fixed_opening(state) else 1
        return UserTurn(reply, FidelityCounts(kept=kept, rejected=rejected), None)
    rejected[reason] = rejected.get(reason, 0) + 1
    return None


def _given_up(guard: FidelityGuard, rejected: dict[str, int]) -> UserTurn:
    tries = guard.retries + 1
    reasons = ", ".join(f"{reason} x{n}" for reason, n in rejected.items())
    failure = f"{GAVE_UP}every one of {tries} tries failed ({reasons})"
    return UserTurn(None, FidelityCounts(rejected=rejected), failure)


def _traced(turn: UserTurn) -> UserTurn:
    """``turn``, with its rejections added to the current run's metadata (LangSmith)."""
    run = get_current_run_tree()
    if run is not None and turn.counts.rejected:
        run.add_metadata({"fidelity_rejected": dict(turn.counts.rejected)})
    return turn


def user_turn(
    role: Any, guard: FidelityGuard | None, state: dict, config: RunnableConfig
) -> UserTurn:
    """The next simulated-user turn, regenerated while ``guard`` rejects it (at most
    ``guard.retries`` times). A role's own failures raise, as from the role.

    Example:
        >>> turn = user_turn(user_role, create_fidelity_guard(), state, config)  # doctest: +SKIP
        >>> turn.message, turn.counts.rejected, turn.failure  # doctest: +SKIP
    """
    rejected: dict[str, int] = {}
    for _ in range(1 + (guard.retries if guard else 0)):
        reply = role.respond(state, config)
        if settled := _settle(reply, _first_failure(guard, reply, state), rejected, state):
            return _traced(settled)
    return _traced(_given_up(guard, rejected))


async def auser_turn(
    role: Any, guard: FidelityGuard | None, state: dict, config: RunnableConfig
) -> UserTurn:
    """Async :func:`user_turn`.

    Example:
        >>> import asyncio
        >>> from langgraph_collab import Task, create_simulated_user
        >>> state = {"messages": [], "task": Task(kind="math", request="Add 17 and 25.",
        ...                                       reference="42")}
        >>> asking = create_simulated_user(lambda state: "Can you help me add two numbers?")
        >>> turn = asyncio.run(auser_turn(asking, create_fidelity_guard(), state, {}))
        >>> turn.message.content, turn.counts.kept, turn.failure
        ('Can you help me add two numbers?', 1, None)
        >>> telling = create_simulated_user(lambda state: "Sure! The answer is 42.")
        >>> turn = asyncio.run(auser_turn(telling, create_fidelity_guard(retries=1), state, {}))
        >>> turn.message, turn.failure
        (None, 'simulated_user: fidelity: every one of 2 tries failed (role_drift x2)')
    """
    rejected: dict[str, int] = {}
    for _ in range(1 + (guard.retries if guard else 0)):
        reply = await role.arespond(state, config)
        reason = await _afirst_failure(guard, reply, state)
        if settled := _settle(reply, reason, rejected, state):
            return _traced(settled)
    return _traced(_given_up(guard, rejected))


def gave_up(error: str | None) -> bool:
    """Whether a recorded failure is the guard giving up on the simulated user: a masked
    sample, counted in the fidelity report, not a failure of the infrastructure.

    Example:
        >>> gave_up("simulated_user: fidelity: every one of 3 tries failed (garbled x3)")
        True
        >>> gave_up("judge: TimeoutError: slow (after 3 attempts)"), gave_up(None)
        (False, False)
    """
    return bool(error) and error.startswith(GAVE_UP)


def resolve_guard(fidelity: FidelityGuard | bool | None) -> FidelityGuard | None:
    """``True``: the default guard; ``False``/None: none; a guard: itself.

    Example:
        >>> resolve_guard(True).retries, resolve_guard(False)
        (2, None)
    """
    if fidelity is True:
        return create_fidelity_guard()
    if fidelity is False or fidelity is None:
        return None
    if isinstance(fidelity, FidelityGuard):
        return fidelity
    raise TypeError(
        f"fidelity must be True, False or a FidelityGuard (create_fidelity_guard()), "
        f"not {type(fidelity).__name__}"
    )


__all__ = [
    "GAVE_UP",
    "RULE_CHECKS",
    "Check",
    "FidelityGuard",
    "FidelityReply",
    "TurnContext",
    "UserTurn",
    "auser_turn",
    "create_fidelity_guard",
    "garbled",
    "gave_up",
    "goal_leak",
    "llm_check",
    "off_goal",
    "resolve_guard",
    "role_drift",
    "sounds_like_assistant",
    "user_turn",
]
