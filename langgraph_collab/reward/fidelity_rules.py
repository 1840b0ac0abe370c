"""The rule checks of the fidelity guard: cheap, context-aware tests of one simulated-user turn.

Each check is ``(text, context) -> reason | None``. They read the turn as a person writes
it: their own words (*prose*) and what they paste and own (*material*: a fenced block, a
traceback, data lines, or a draft after a short first-person preface such as "Here's my
draft:"). Assistant-voice and length tests look at the prose only, so a user's own error,
code, data or long draft is never held against them; leak tests look at everything. And
they know whose words came first: a number or answer the assistant already gave is an
echo, not a leak; a phrase already said in the chat is not copied from the hidden goal.

Example:
    >>> from langgraph_collab import Task
    >>> from langchain_core.messages import AIMessage
    >>> task = Task(kind="math", request="Three people split $2400. How much each?",
    ...             reference="800")
    >>> asked = TurnContext(task, [AIMessage("How many people share it?")])
    >>> role_drift("Sure: there are 3 of us.", asked), goal_leak("3, so 800 each?", asked)
    (None, 'states the reference answer before the assistant did')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage

from langgraph_collab.reward.user_text import (
    CHAT,
    HEARSAY,
    SOLVING,
    STEP,
    TRANSCRIPT,
    Parts,
    content_words,
    numbers,
    numeric,
    sentences,
    sounds_like_assistant,
    stem,
    words,
)
from langgraph_collab.state import TERMINATE, Task
from langgraph_collab.tasks.kinds import task_kind

MAX_USER_WORDS = 250
"""A user turn whose own words (pasted material aside) are longer than this is not a busy
person's message (the prompt asks for 1-4 sentences): it is flagged as drift into writing
the work itself."""


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
        replies = self.replies
        return replies[-1] if replies else ""

    @property
    def replies(self) -> list[str]:
        """Every assistant message so far."""
        return [m.text for m in self.messages if isinstance(m, AIMessage) and m.text]

    @property
    def said(self) -> str:
        """Everything said in the chat so far, by either side."""
        return "\n".join(m.text for m in self.messages)


Check = Callable[[str, TurnContext], str | None]
"""A fidelity check: a short explanation when the turn fails it, else None."""


def _echoes(sentence: str, context: TurnContext) -> bool:
    """Whether a sentence restates what the assistant said (its numbers, or most of its
    words)."""
    replies = "\n".join(context.replies)
    said_numbers = numbers(sentence)
    if said_numbers:
        return said_numbers <= numbers(replies)
    own = content_words(sentence) - CHAT
    return bool(own) and len(own & content_words(replies)) >= 0.8 * len(own)


def role_drift(text: str, context: TurnContext) -> str | None:
    """The user speaks as the assistant: offers help in an assistant's words, writes both
    sides of the dialogue, states a solution of its own (a worked, boxed or "the answer is"
    result the assistant has not given, steps), hands over code it does not present as its
    own, or writes far more than a person would in its own words."""
    parts = Parts(text)
    if sounds_like_assistant(parts.prose):
        return "offers help like an assistant"
    if TRANSCRIPT.search(parts.prose):
        return "writes both sides of the dialogue"
    if len(STEP.findall(parts.prose)) >= 2:
        return "writes a worked solution"
    for sentence in sentences(parts.prose):
        solving = SOLVING.search(sentence) and not sentence.rstrip().endswith("?")
        if solving and not _echoes(sentence, context) and not HEARSAY.search(sentence):
            return "states a solution itself"
    if parts.has_code and not parts.owned:
        return "writes code it does not present as its own"
    if len(words(parts.prose)) > MAX_USER_WORDS:
        return f"writes more than {MAX_USER_WORDS} words"
    return None


def _runs(text: str, source: str, minimum: int) -> list[list[str]]:
    """Maximal runs of ``minimum``+ consecutive words ``text`` shares with ``source``."""
    a, b = words(text), words(source)
    positions: dict[str, list[int]] = {}
    for j, word in enumerate(b):
        positions.setdefault(word, []).append(j)
    runs, previous = [], {}
    for i, word in enumerate(a):
        current = {j: previous.get(j - 1, 0) + 1 for j in positions.get(word, ())}
        for j, n in previous.items():  # a run that does not go on ends here
            if current.get(j + 1, 0) == 0 and n >= minimum:
                runs.append(a[i - n : i])
        previous = current
    runs += [a[len(a) - n :] for n in previous.values() if n >= minimum]
    return runs


def _hidden(task: Task) -> dict[str, str]:
    sources = {"request": task.request}
    if task.reference:
        sources["reference"] = task.reference
    if isinstance(task.metadata.get("user_context"), str):  # the intended reading is theirs
        sources["user_context"] = task.metadata["user_context"]
    return sources


def goal_leak(text: str, context: TurnContext) -> str | None:
    """The user pastes the hidden request, reference, target or context (a run of 12+ words
    of one, or the whole of a shorter one, that the chat has not said yet), or states the
    reference answer (a number of equal value, or every content word of a short answer)
    before the assistant did. Numbers of the user's own request are theirs to repeat."""
    said = " " + " ".join(words(context.said)) + " "
    for name, source in _hidden(context.task).items():
        n = len(words(source))
        if n < 6:
            continue
        if any(f" {' '.join(run)} " not in said for run in _runs(text, source, min(12, n))):
            return f"copies the hidden {name}"
    task, prose = context.task, Parts(text).prose
    reference = (task.reference or "").strip()
    if not reference or task.kind in ("code", "document"):
        return None
    replies = "\n".join(context.replies)
    value = numeric(reference)
    if value is not None:
        theirs = numbers(task.request) | numbers(replies)
        if value in numbers(prose) and value not in theirs:
            return "states the reference answer before the assistant did"
        return None
    key = content_words(reference)
    if 2 <= len(key) <= 12 and key <= content_words(prose) and key - content_words(replies):
        return "states the reference answer before the assistant did"
    return None


def off_goal(text: str, context: TurnContext) -> str | None:
    """The user talks about something else: its own words relate to nothing in the goal,
    the user's context or the chat so far, or under a fifth of them do (a shared word or
    two does not make a message on topic). Asked of questions of four or more words and of
    statements of eight or more (answers and reactions bring new details). Material the
    user pastes that shares words with the task keeps the turn on topic."""
    parts = Parts(text)
    said = {w for w in content_words(parts.prose) - CHAT if not w.isdigit()}
    if len(said) < (4 if "?" in parts.prose else 8):
        return None
    task = context.task
    known_text = [task.request, task.description, task.opening or "", task.reference or ""]
    known_text += [task_kind(task.kind).description, str(task.metadata.get("user_context", ""))]
    known = {stem(w) for w in content_words(" ".join(known_text) + "\n" + context.said)}
    if len({stem(w) for w in content_words(parts.material)} & known) >= 2:
        return None
    shared = sum(stem(w) in known for w in said)
    if shared == 0:
        return "shares no word with the goal or the chat"
    if shared < 0.2 * len(said):
        return f"shares {shared} of its {len(said)} words with the goal or the chat"
    return None


def _word_like(token: str) -> bool:
    if len(token) < 4:
        return "q" not in token or "qu" in token
    has_vowel = bool(re.search(r"[aeiouy]", token))
    return has_vowel and not re.search(r"[^aeiouy]{5}|q(?!u)", token)


def garbled(text: str, context: TurnContext) -> str | None:
    """Empty, unreadable or looping text: control characters, mostly symbols, mostly
    letter strings no language spells, or a few words repeated over and over."""
    body = text.replace(TERMINATE, "").strip()
    if not body:
        return None if TERMINATE in text else "empty"
    if any(ord(c) < 32 and c not in "\n\t\r" for c in body):
        return "control characters"
    prose = Parts(body).prose or body
    visible = prose.replace(" ", "").replace("\n", "")
    if visible and sum(c.isalnum() for c in visible) < 0.5 * len(visible):
        return "mostly not words"
    tokens = words(prose)
    if len(tokens) >= 8 and len(set(tokens)) < 0.3 * len(tokens):
        return "repeats itself"
    letters = re.findall(r"[a-z]+", prose.lower())
    if len(letters) >= 4 and sum(map(_word_like, letters)) < 0.6 * len(letters):
        return "mostly not words"
    return None


RULE_CHECKS: Mapping[str, Check] = {
    "role_drift": role_drift,
    "goal_leak": goal_leak,
    "off_goal": off_goal,
    "garbled": garbled,
}
"""The built-in rule checks by reason name."""
