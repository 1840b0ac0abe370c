"""Clarification (Abg-CoQA): did the assistant ask when, and only when, the question was
ambiguous? Over-asking is a known failure mode, so both directions count.

Whether a reply asks is read from the candidate reply itself: it asks when one of its
sentences is a question that is not a generic offer of more help ("Anything else?").

Example:
    >>> asks_for_clarification("Do you mean Maya or Lena?")
    True
    >>> asks_for_clarification("She went home. Anything else I can help with?")
    False
"""

from __future__ import annotations

import re

from langchain_core.messages import AIMessage

from langgraph_collab.reward.metrics.base import MetricError, MetricInput

_SENTENCE = re.compile(r"[^.!?\n]*\?")
_OFFER = re.compile(
    r"\b(anything else|any other|let me know|can i help|may i help|help you with|"
    r"does (that|this) help|hope (that|this) helps|other questions)\b",
    re.IGNORECASE,
)


def asks_for_clarification(text: str) -> bool:
    """Whether ``text`` asks the user a question other than a generic offer of help."""
    return any(not _OFFER.search(question) for question in _SENTENCE.findall(text))


def _candidate(sample: MetricInput) -> str:
    replies = [m for m in sample.window if isinstance(m, AIMessage)]
    if not replies:
        raise MetricError("no assistant reply to read")
    return replies[0].text


def asked(sample: MetricInput) -> float:
    """1.0 if the candidate reply asks for clarification, else 0.0 (recorded for ask-rates)."""
    return float(asks_for_clarification(_candidate(sample)))


def clarification(sample: MetricInput) -> float:
    """1.0 if the reply asked exactly when the task is ambiguous (``metadata["ambiguous"]``)."""
    ambiguous = sample.task.metadata.get("ambiguous")
    if not isinstance(ambiguous, bool):
        raise MetricError(f"task {sample.task.id!r} has no boolean metadata['ambiguous']")
    return float(asks_for_clarification(_candidate(sample)) == ambiguous)
