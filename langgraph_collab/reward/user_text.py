"""The text features the fidelity rules read in a simulated-user turn: words and content
words, numbers (digits, fractions, number words), the turn's parts (the user's own prose vs.
the material they paste), and the phrasing of an assistant.

Example:
    >>> sorted(content_words("Sorting the list quickly"))
    ['list', 'quickly', 'sorting']
    >>> sorted(numbers("three apples and 1/2 a pie"))
    [Fraction(1, 2), Fraction(3, 1)]
"""

from __future__ import annotations

import re
from fractions import Fraction

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
CHAT = frozenset(
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
TRANSCRIPT = re.compile(r"^\s*(assistant|ai|user|human|system)\s*:", re.IGNORECASE | re.MULTILINE)
SOLVING = re.compile(
    r"\\boxed\{|^\s*(final answer|answer|solution)\s*:|\bthe (final )?answer is\b|"
    r"\bthe (solution|fix|trick) is to\b|\b(therefore|hence|thus)\b",
    re.IGNORECASE | re.MULTILINE,
)
# Whose claim a "the answer is" sentence reports: the user's guess or someone else's.
HEARSAY = re.compile(
    r"\b(i|i'm|my|we|our|says|said|think|thought|guess|maybe|probably|supposed|claims?)\b",
    re.IGNORECASE,
)
STEP = re.compile(r"^\s*step \d+\s*[:.)]", re.IGNORECASE | re.MULTILINE)
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
    """Lower-case word tokens (an apostrophe's ending kept with its word).

    Example:
        >>> words("It's 3 o'clock, OK?")
        ["it's", '3', "o'clock", 'ok']
    """
    return _WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    """Words that carry meaning (no stop words, no one-letter tokens).

    Example:
        >>> sorted(content_words("I want the list sorted"))
        ['list', 'sorted']
    """
    return {w for w in words(text) if w not in _STOP and len(w) > 1}


def stem(word: str) -> str:
    """A crude stem: a common ending off, then five letters ("sorting", "sorted" -> "sort").

    Example:
        >>> stem("sorting"), stem("sorted"), stem("algorithms")
        ('sort', 'sort', 'algor')
    """
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


def numeric(reference: str) -> Fraction | None:
    """The value of a reference that is one number (``"800"``, ``"\\frac{1}{6}"``,
    ``"About 1,200"``), else None.

    Example:
        >>> numeric("About 1,200"), numeric("x^2 + 1")
        (Fraction(1200, 1), None)
    """
    values = numbers(reference)
    rest = _NUMBER.sub(" ", reference)
    if len(values) != 1 or re.search(r"\\(?!frac)|[\^_a-z]\w*[({]", rest):
        return None
    return next(iter(values)) if len(content_words(rest)) <= 2 else None


class Parts:
    """A turn split into the user's own words (``prose``) and what they paste (``material``:
    fenced blocks, tracebacks, data or code lines, a draft after a short preface), and
    whether the prose claims the material as theirs (``owned``).

    Example:
        >>> parts = Parts("Here's my draft:\\n\\nThe cat sat on the mat by the window.")
        >>> parts.prose, parts.draft, parts.owned, parts.has_code
        ("Here's my draft:", 'The cat sat on the mat by the window.', True, False)
    """

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


def sentences(text: str) -> list[str]:
    """The sentences of ``text``: split after ``.``, ``!`` or ``?`` and at line breaks.

    Example:
        >>> sentences("Hi there. How are you?\\nFine!")
        ['Hi there.', 'How are you?', 'Fine!']
    """
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]
