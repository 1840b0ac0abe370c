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
from fractions import Fraction

from langchain_core.messages import AIMessage, BaseMessage

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
# Words any chat about any task uses: they say nothing about staying on the goal.
_CHAT = frozenset(
    re.findall(
        r"\S+",
        "know think mean meant good great fine right wrong question answer help sorry really "
        "also still much many make makes made way one two thing things something anything "
        "work works working looks look got see said say tell told write wrote give example "
        "again maybe actually quite bit lot kind sort part first last next now time today "
        "wait why when where well let us don't doesn't didn't isn't it's i'm i've i'd you're "
        "that's what's there's can't won't yeah yep nope hmm perfect awesome cool nice exactly "
        "ah oh uh um ooh wow cheers btw here's all after before every each other only very "
        "too into over under out up down off same own such while because since until both "
        "few most being would could error errors issue problem bug fix run ran running "
        "defined line file works input output result results version again instead",
    )
)
_FIRST_PERSON = re.compile(r"\b(i|i'm|i've|i'd|i'll|me|my|mine|we|our|us)\b", re.IGNORECASE)
_FAILS = re.compile(
    r"\b(error|errors|fails?|failing|failed|wrong|broken|bug|crash\w*|traceback|exception|"
    r"doesn't|does not|isn't|won't|can't)\b|\?",
    re.IGNORECASE,
)
_ASSISTANT = re.compile(
    r"\b(i'?d|i would|i'?m|i am) (be )?(happy|glad|delighted) to (help|assist)|"
    r"\bhappy to help\b|\bhow (can|may) i (help|assist)\b|\bi hope (this|that) helps\b|"
    r"\bfeel free to (ask|reach out)\b|"
    r"\blet me know if you have any (other |more |further )?questions\b|"
    r"\bis there anything else (i|we) can\b|\bas an ai\b|^\W*great question\b|"
    r"^\W*you'?re (very |most )?welcome\b|\bas you requested\b|\bsorry for any confusion\b|"
    r"\b(story|text|code|problem|information|details) you('ve| have)? shared\b|"
    r"\bhere(?:'s| is| are)\b[^.!?\n]{0,40}\byou (asked for|requested|wanted)\b|"
    r"^\W*here(?:'s| is| are) (the|a|an|your) (solution|implementation|answer|revised|"
    r"updated|rewritten|corrected|fixed|final|completed?)\b(?![^.!?\n]{0,30}\b(i|my|we|our)\b)|"
    r"^\W*(sure|certainly|of course|absolutely)\W+here(?:'s| is| are) (the|a|an|your) "
    r"(solution|implementation|function|code|answer|draft|post|email|version|blog|document|"
    r"explanation|breakdown|plan|outline|summary|itinerary|recipe|overview|rewrite)\b"
    r"(?![^.!?\n]{0,30}\b(i|my|we|our)\b)|"
    r"\bi can (implement|write|do|build|code) (that|this|it) for you\b|"
    r"\b(i|we) can help (you|with (that|this|it))\b|"
    r"\b(the|your) (\w+ ){0,2}(problem|question|task|project|assignment) (that )?you'?re "
    r"(working on|trying to|asking about|stuck on)\b|"
    r"\b(details|more|information) about your (\w+ )?(problem|question|task|request|project)\b|"
    r"\blet me (walk you through|break (it|this|that) down|help you|show you how|"
    r"explain (both|each|them))\b",
    re.IGNORECASE | re.MULTILINE,
)
_TRANSCRIPT = re.compile(r"^\s*(assistant|ai|user|human|system)\s*:", re.IGNORECASE | re.MULTILINE)
_SOLVING = re.compile(
    r"\\boxed\{|^\s*(final answer|answer|solution)\s*:|\bthe (final )?answer is\b|"
    r"\bthe (solution|fix|trick) is to\b|\b(therefore|hence|thus)\b",
    re.IGNORECASE | re.MULTILINE,
)
# Whose claim a "the answer is" sentence reports: the user's guess or someone else's.
_HEARSAY = re.compile(
    r"\b(i|i'm|my|we|our|says|said|think|thought|guess|maybe|probably|supposed|claims?)\b",
    re.IGNORECASE,
)
_STEP = re.compile(r"^\s*step \d+\s*[:.)]", re.IGNORECASE | re.MULTILINE)
_FENCE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_CODE_LINE = re.compile(
    r"^\s*(def \w+\(.*|class \w+\s*[(:].*|return\b.*|import [\w.]+(\s+as \w+)?|"
    r"from [\w.]+ import [\w., ]+|[\w.\[\]'\"]+\s*[+\-*/]?=\s*\S.*|(for|if|while|with) .+:)\s*$",
    re.MULTILINE,
)
_MATERIAL_LINE = re.compile(
    r"^\s*(traceback \(most recent|file \".*\", line \d+|\w*(error|exception|warning)\b\s*:|"
    r">>>|\.\.\.\s|>\s|[^\s,]+(,[^\s,]*){2,}\s*$)",
    re.IGNORECASE,
)
_MATERIAL_WORDS = re.compile(
    r"\b(draft|version|attempt|notes|wrote|written|so far|have now|code|error|output|"
    r"traceback|sample|tests?|data|file|table|work|line|text|email|post|paragraph)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\\[dt]?frac\{\s*(-?\d+)\s*\}\{\s*(\d+)\s*\}|(?<![\w.])(-?\d{1,3}(?:,\d{3})+|-?\d+)"
    r"(?:\.(\d+))?(?:\s*/\s*(\d+))?(?![\w])"
)


def words(text: str) -> list[str]:
    """Lower-case word tokens."""
    return _WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    """Words that carry meaning (no stop words, no one-letter tokens)."""
    return {w for w in words(text) if w not in _STOP and len(w) > 1}


def _stem(word: str) -> str:
    """A crude stem: a common ending off, then five letters ("sorting", "sorted" -> "sort")."""
    return re.sub(r"(?<=\w{3})(ing|ed|es|e|s)$", "", word)[:5]


_NUMBER_WORDS = dict(
    zip(
        re.findall(r"\S+", "zero two three four five six seven eight nine ten eleven twelve"),
        (0, *range(2, 13)),
        strict=True,
    )
)  # "one" is a pronoun more often than a number
_NUMBER_WORDS |= {"thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "twenty": 20}
_NUMBER_WORDS |= {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80}
_NUMBER_WORDS["ninety"] = 90


def numbers(text: str) -> set[Fraction]:
    """The numbers written in ``text`` (integers, decimals, thousands, ``a/b``,
    ``\\frac{a}{b}``, number words but "one"), as exact values.

    Example:
        >>> sorted(numbers("about 1,200 of them, or \\\\frac{1}{6}, 2.5 and 3/4"))
        [Fraction(1, 6), Fraction(3, 4), Fraction(5, 2), Fraction(1200, 1)]
    """
    found = {Fraction(_NUMBER_WORDS[w]) for w in words(text) if w in _NUMBER_WORDS}
    for num, den, whole, decimals, over in _NUMBER.findall(text):
        if num:
            value = Fraction(int(num), int(den)) if int(den) else None
        else:
            value = Fraction(whole.replace(",", "") + (f".{decimals}" if decimals else ""))
            value = value / int(over) if over and int(over) else value
        if value is not None:
            found.add(value)
    return found


def _numeric(reference: str) -> Fraction | None:
    """The value of a reference that is one number (``"800"``, ``"\\frac{1}{6}"``,
    ``"About 1,200"``), else None."""
    values = numbers(reference)
    rest = _NUMBER.sub(" ", reference)
    if len(values) != 1 or re.search(r"\\(?!frac)|[\^_a-z]\w*[({]", rest):
        return None
    return next(iter(values)) if len(content_words(rest)) <= 2 else None


class Parts:
    """A turn split into the user's own words (``prose``) and what they paste (``material``:
    fenced blocks, tracebacks, data or code lines, a draft after a short preface), and
    whether the prose claims the material as theirs (``owned``)."""

    def __init__(self, text: str) -> None:
        self.fenced = _FENCE.findall(text)
        rest = _FENCE.sub("\n", text)
        lines = rest.splitlines()
        self.code_lines = [line for line in lines if _CODE_LINE.match(line)]
        pasted = [line for line in lines if _CODE_LINE.match(line) or _MATERIAL_LINE.match(line)]
        kept = [line for line in lines if line not in pasted]
        own = "\n".join(kept).strip()
        paragraphs = [p for p in re.split(r"\n\s*\n", own) if p.strip()]
        first_line = own.split("\n", 1)[0]
        if len(paragraphs) > 1 and _introduces(paragraphs[0]):
            self.prose, self.draft = paragraphs[0], "\n\n".join(paragraphs[1:])
        elif "\n" in own and first_line.rstrip().endswith(":") and _introduces(first_line):
            self.prose, self.draft = first_line, own.split("\n", 1)[1]
        else:
            self.prose, self.draft = own, ""
        self.material = "\n".join([*self.fenced, *pasted, self.draft])
        self.owned = bool(_FIRST_PERSON.search(self.prose) or _FAILS.search(self.prose))

    @property
    def has_code(self) -> bool:
        """Whether the turn carries code (a fenced block of code, or two code lines)."""
        fenced_code = any(_CODE_LINE.search(block) for block in self.fenced)
        return fenced_code or len(self.code_lines) >= 2


def _introduces(preface: str) -> bool:
    """A short first paragraph or line that hands over the user's own material ("Here's
    my draft:", "Can you shorten the following:")."""
    mine = _FIRST_PERSON.search(preface) or re.search(
        r"\b(the following|below)\b", preface, re.IGNORECASE
    )
    handed = _MATERIAL_WORDS.search(preface) or preface.rstrip().endswith(":")
    return len(words(preface)) <= 40 and bool(mine) and bool(handed)


def sounds_like_assistant(text: str) -> bool:
    """Whether a message reads like an assistant's: offering help, "I hope this helps",
    "Here is the solution", "Is there anything else I can do" (a polite "Sure," or "Of
    course," opening an answer is a user's too).

    Example:
        >>> sounds_like_assistant("Certainly! I'd be happy to help with the plan.")
        True
        >>> sounds_like_assistant("Sure: there are 3 roommates.")
        False
    """
    return bool(_ASSISTANT.search(text))


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


def _echoes(sentence: str, context: TurnContext) -> bool:
    """Whether a sentence restates what the assistant said (its numbers, or most of its
    words)."""
    replies = "\n".join(context.replies)
    said_numbers = numbers(sentence)
    if said_numbers:
        return said_numbers <= numbers(replies)
    own = content_words(sentence) - _CHAT
    return bool(own) and len(own & content_words(replies)) >= 0.8 * len(own)


def role_drift(text: str, context: TurnContext) -> str | None:
    """The user speaks as the assistant: offers help in an assistant's words, writes both
    sides of the dialogue, states a solution of its own (a worked, boxed or "the answer is"
    result the assistant has not given, steps), hands over code it does not present as its
    own, or writes far more than a person would in its own words."""
    parts = Parts(text)
    if sounds_like_assistant(parts.prose):
        return "offers help like an assistant"
    if _TRANSCRIPT.search(parts.prose):
        return "writes both sides of the dialogue"
    if len(_STEP.findall(parts.prose)) >= 2:
        return "writes a worked solution"
    for sentence in _sentences(parts.prose):
        solving = _SOLVING.search(sentence) and not sentence.rstrip().endswith("?")
        if solving and not _echoes(sentence, context) and not _HEARSAY.search(sentence):
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
    value = _numeric(reference)
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
    said = {w for w in content_words(parts.prose) - _CHAT if not w.isdigit()}
    if len(said) < (4 if "?" in parts.prose else 8):
        return None
    task = context.task
    known_text = [task.request, task.description, task.opening or "", task.reference or ""]
    known_text += [task_kind(task.kind).description, str(task.metadata.get("user_context", ""))]
    known = {_stem(w) for w in content_words(" ".join(known_text) + "\n" + context.said)}
    if len({_stem(w) for w in content_words(parts.material)} & known) >= 2:
        return None
    shared = sum(_stem(w) in known for w in said)
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
