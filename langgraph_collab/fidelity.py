"""Simulator fidelity: is each simulated-user turn one a real person with this goal would write?

The MR is only as good as the simulated user playing the futures, and small open simulators
drift into the assistant's role (the paper's warning). Every user turn can be checked:

- ``role_drift``: the "user" writes like an assistant: offers help, answers its own
  request, writes the solution (code, a worked answer, the final result);
- ``goal_leak``: it pastes the hidden request, the reference answer or the target document
  verbatim or near-verbatim;
- ``off_goal``: it talks about something that has nothing to do with the goal or the chat;
- ``garbled``: empty, endless, repetitive or unreadable text.

Each check is a plain function ``(text, context) -> reason | None`` a user can replace or
extend; cheap rules come first, and :func:`llm_check` adds an LLM-graded verdict (a
structured call to a judge model, off by default) for what rules cannot see. A
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
    ['role_drift']
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langsmith.run_helpers import get_current_run_tree
from pydantic import BaseModel, Field

from langgraph_collab.state import TERMINATE, FidelityCounts, Task

GAVE_UP = "simulated_user: fidelity: "
"""How a conversation the guard gave up on records its failure (see :func:`gave_up`)."""

MAX_USER_WORDS = 250
"""A user turn longer than this is not a busy person's message (the prompt asks for 1-4
sentences): it is flagged as drift into writing the work itself."""


@dataclass(frozen=True)
class TurnContext:
    """What a check sees besides the turn: the task (hidden goal, reference) and the
    conversation before the turn."""

    task: Task
    messages: Sequence[BaseMessage] = ()
    turn: str = ""

    @property
    def last_reply(self) -> str:
        """The assistant's latest message, if any."""
        replies = [m.text for m in self.messages if isinstance(m, AIMessage) and m.text]
        return replies[-1] if replies else ""


Check = Callable[[str, TurnContext], str | None]
"""A fidelity check: a short explanation when the turn fails it, else None."""

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOP = frozenset(
    re.findall(
        r"\S+",
        "a an the and or but if of to in on at for with from by as is are was were be been am "
        "do does did i you me my your we our it its this that these those what which who how "
        "can could would should will just so not no yes please thanks thank hi hello hey ok "
        "okay sure want need like have has had get some any more about there here then than",
    )
)
_OFFERS_HELP = re.compile(
    r"^\W*(sure|certainly|of course|absolutely|great question|i'?d be (happy|glad) to|"
    r"i'?m (happy|glad) to help|here(?: is|'s) (a|an|the|your)|as an ai)\b|"
    r"\b(how can i (help|assist)|i hope this helps|feel free to (ask|share|reach)|"
    r"let me know if you (have|need)|is there anything else i can)\b",
    re.IGNORECASE,
)
_SOLVES = re.compile(
    r"(\\boxed\{|^\s*(step \d+|solution)\s*[:.]|\bthe (final )?answer is\b|"
    r"^\s*(def |class |import |from \w+ import )|```)",
    re.IGNORECASE | re.MULTILINE,
)


def words(text: str) -> list[str]:
    """Lower-case word tokens."""
    return _WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    """Words that carry meaning (no stop words, no one-letter tokens)."""
    return {w for w in words(text) if w not in _STOP and len(w) > 1}


def _longest_shared_run(text: str, source: str) -> int:
    """Length, in words, of the longest run of consecutive words ``text`` shares with
    ``source``."""
    a, b = words(text), words(source)
    if not a or not b:
        return 0
    positions: dict[str, list[int]] = {}
    for j, word in enumerate(b):
        positions.setdefault(word, []).append(j)
    best, previous = 0, {}
    for word in a:
        current = {j: previous.get(j - 1, 0) + 1 for j in positions.get(word, ())}
        if current:
            best = max(best, *current.values())
        previous = current
    return best


def sounds_like_assistant(text: str) -> bool:
    """Whether a message reads like an assistant's: offering help, opening with
    "Certainly", closing with "I hope this helps".

    Example:
        >>> sounds_like_assistant("Certainly! Here is the plan you asked for.")
        True
        >>> sounds_like_assistant("Can you make it shorter? [[TERMINATE CHAT]]")
        False
    """
    return bool(_OFFERS_HELP.search(text))


def role_drift(text: str, context: TurnContext) -> str | None:
    """The user speaks as the assistant: offers help, writes a solution (a fenced block,
    code, a worked or boxed answer), or writes far more than a person would."""
    if sounds_like_assistant(text):
        return "offers help like an assistant"
    if _SOLVES.search(text):
        return "writes the solution itself"
    if len(words(text)) > MAX_USER_WORDS:
        return f"writes more than {MAX_USER_WORDS} words"
    return None


def goal_leak(text: str, context: TurnContext) -> str | None:
    """The user pastes the hidden request, the reference or the target document: a run of
    12+ words of any of them, the whole request when it is shorter, or the reference answer
    itself (when it is not a bare number a question could contain)."""
    task = context.task
    sources = {"request": task.request, "reference": task.reference or ""}
    for name, source in sources.items():
        n = len(words(source))
        if n and _longest_shared_run(text, source) >= min(12, n) and n >= 6:
            return f"copies the hidden {name}"
    reference = (task.reference or "").strip()
    key = content_words(reference)
    stated = len(key) >= 2 and key <= content_words(text)
    if task.kind != "document" and stated and key - content_words(context.last_reply):
        return "states the reference answer"
    return None


def off_goal(text: str, context: TurnContext) -> str | None:
    """The user talks about something else: a message of 12+ content words sharing none
    with the goal, the user's context, or the conversation so far."""
    said = content_words(text)
    if len(said) < 12:
        return None
    task = context.task
    hidden = [task.request, task.description, task.opening or ""]
    hidden.append(str(task.metadata.get("user_context", "")))
    known = " ".join(hidden + [m.text for m in context.messages])
    if said & content_words(known):
        return None
    return "shares no word with the goal or the chat"


def garbled(text: str, context: TurnContext) -> str | None:
    """Empty, unreadable or looping text."""
    body = text.replace(TERMINATE, "").strip()
    if not body:
        return None if TERMINATE in text else "empty"
    letters = sum(c.isalpha() for c in body)
    if letters < 0.5 * len(body.replace(" ", "")):
        return "mostly not words"
    tokens = words(body)
    if len(tokens) >= 12 and len(set(tokens)) < 0.3 * len(tokens):
        return "repeats itself"
    if any(ord(c) < 32 and c not in "\n\t\r" for c in body):
        return "control characters"
    return None


RULE_CHECKS: Mapping[str, Check] = {
    "role_drift": role_drift,
    "goal_leak": goal_leak,
    "off_goal": off_goal,
    "garbled": garbled,
}
"""The built-in rule checks by reason name."""


class FidelityReply(BaseModel):
    """The structured verdict asked of an LLM fidelity judge."""

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
    from langgraph_collab._role import Role, text_of
    from langgraph_collab.judge import tolerant_parse
    from langgraph_collab.models import load_chat_model
    from langgraph_collab.prompts import load_prompt, render

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
        context = TurnContext(task=task, messages=messages)
        body = text.replace(TERMINATE, "").strip()
        if not body:
            return [] if TERMINATE in text else ["garbled"]
        return [name for name, check in self.checks.items() if check(body, context)]


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
    failed = guard.check(reply.text, task=state["task"], messages=state.get("messages") or [])
    return failed[0] if failed else None


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
    ``failure`` that ends the conversation; ``counts`` either way."""

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
    """Async :func:`user_turn`."""
    rejected: dict[str, int] = {}
    for _ in range(1 + (guard.retries if guard else 0)):
        reply = await role.arespond(state, config)
        reason = await _afirst_failure(guard, reply, state)
        if settled := _settle(reply, reason, rejected, state):
            return _traced(settled)
    return _traced(_given_up(guard, rejected))


def gave_up(error: str | None) -> bool:
    """Whether a recorded failure is the guard giving up on the simulated user: a masked
    sample, counted in the fidelity report, not a failure of the infrastructure."""
    return bool(error) and error.startswith(GAVE_UP)


def resolve_guard(fidelity: FidelityGuard | bool | None) -> FidelityGuard | None:
    """``True``: the default guard; ``False``/None: none; a guard: itself."""
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
