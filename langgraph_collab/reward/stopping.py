"""Grounded stop: end a conversation when its goal is met, even if the simulated user never
writes the stop token (small simulators rarely do).

The task kind decides what "met" means, from the assistant's latest reply:

- ``math``: its final answer (the last ``\\boxed{}``, "the answer is ...", or the value
  its last sentence concludes with) equals the reference, by the same grader as the
  ``accuracy`` metric; a question that mentions a number is not an answer;
- ``code``: the code in it passes every hidden test (sandboxed);
- ``document``: its BLEU against the target document is at least ``DOCUMENT_THRESHOLD``;
- ``ambiguity``: it gives the intended answer, and, for an ambiguous question, only after
  asking which reading the user meant and hearing back.

Other kinds have no grounded stop. Each rule is a named function
``(task, messages) -> bool`` in :data:`GOAL_CHECKS`; pass your own mapping to replace them.

Example:
    >>> from langchain_core.messages import AIMessage, HumanMessage
    >>> from langgraph_collab import Task
    >>> task = Task(kind="math", request="What is 6 x 7?", reference="42")
    >>> goal_met(task, [HumanMessage("6 x 7?"), AIMessage("That makes $\\\\boxed{42}$.")])
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from langgraph_collab.reward.metrics.base import MetricError
from langgraph_collab.reward.user_text import content_words
from langgraph_collab.state import Task

DOCUMENT_THRESHOLD = 0.8
"""BLEU (0..1) of the latest reply against the target document that counts as done."""

GoalCheck = Callable[[Task, Sequence[BaseMessage]], bool]


def _replies(messages: Sequence[BaseMessage]) -> list[str]:
    return [m.text for m in messages if isinstance(m, AIMessage) and m.text]


def _latest(messages: Sequence[BaseMessage]) -> str:
    replies = _replies(messages)
    return replies[-1] if replies else ""


def math_goal_met(task: Task, messages: Sequence[BaseMessage]) -> bool:
    """The latest reply's final answer equals the reference: the same decision as the
    ``accuracy`` metric (:func:`~langgraph_collab.reward.metrics.answers.final_answer`, then
    :func:`~langgraph_collab.reward.metrics.answers.compare`), never any number it mentions.

    Example:
        >>> task = Task(kind="math", request="What is 6 x 7?", reference="42")
        >>> math_goal_met(task, [AIMessage("So the answer is 42.")])
        True
        >>> math_goal_met(task, [AIMessage("Is it 6 x 7 = 42 you need, or 7 x 6?")])
        False
    """
    from langgraph_collab.reward.metrics.answers import compare, final_answer

    answer = final_answer(_latest(messages))
    return bool(task.reference) and answer is not None and compare(task.reference, answer) is True


def code_goal_met(task: Task, messages: Sequence[BaseMessage]) -> bool:
    """The code in the latest reply passes every hidden test.

    Example:
        >>> tests = ("import unittest\\nclass T(unittest.TestCase):\\n"
        ...          "    def test(self):\\n        self.assertEqual(inc(1), 2)\\n")
        >>> task = Task(kind="code", request="Write inc(x).", metadata={"test": tests})
        >>> code_goal_met(task, [AIMessage("```python\\ndef inc(x):\\n    return x + 1\\n```")])
        True
        >>> code_goal_met(task, [AIMessage("Should inc work on floats too?")])
        False
    """
    from langgraph_collab.reward.metrics.pass_rate import extract_code, run_hidden_tests

    tests, reply = task.metadata.get("test"), _latest(messages)
    if not tests or "```" not in reply:
        return False
    try:
        return run_hidden_tests(extract_code(reply, task.metadata.get("entry_point")), tests) == 1
    except MetricError:  # the sandbox itself failed: not a verdict, so not done
        return False


def document_goal_met(task: Task, messages: Sequence[BaseMessage]) -> bool:
    """The latest reply is close to the target document (BLEU >= DOCUMENT_THRESHOLD).

    Example:
        >>> target = "The committee met on Monday and approved the new budget for the year."
        >>> task = Task(kind="document", request="Fix my sentence.", reference=target)
        >>> document_goal_met(task, [AIMessage(target)])
        True
        >>> document_goal_met(task, [AIMessage("Which sentence do you mean?")])
        False
    """
    import sacrebleu

    reply = _latest(messages)
    if not task.reference or not reply.strip():
        return False
    return sacrebleu.sentence_bleu(reply, [task.reference]).score / 100 >= DOCUMENT_THRESHOLD


def ambiguity_goal_met(task: Task, messages: Sequence[BaseMessage]) -> bool:
    """The latest reply gives the intended answer; for an ambiguous question, after the
    assistant asked which reading was meant and the user answered.

    Example:
        >>> task = Task(kind="ambiguity", request="Who went to the market?",
        ...             reference="Anna went to the market", metadata={"ambiguous": True})
        >>> answer = AIMessage("Anna went to the market.")
        >>> ambiguity_goal_met(task, [HumanMessage("Who went?"), answer])
        False
        >>> ambiguity_goal_met(task, [HumanMessage("Who went?"),
        ...     AIMessage("Do you mean this morning or yesterday?"),
        ...     HumanMessage("This morning."), answer])
        True
    """
    from langgraph_collab.reward.metrics.clarification import asks_for_clarification

    key = content_words(task.reference or "")
    latest = content_words(_latest(messages))
    if not key or len(key & latest) < 0.75 * len(key):
        return False
    if task.metadata.get("ambiguous") is not True:
        return True
    asked = [
        i
        for i, m in enumerate(messages)
        if isinstance(m, AIMessage) and asks_for_clarification(m.text)
    ]
    return bool(asked) and any(isinstance(m, HumanMessage) for m in messages[asked[0] + 1 :])


GOAL_CHECKS: Mapping[str, GoalCheck] = {
    "math": math_goal_met,
    "code": code_goal_met,
    "document": document_goal_met,
    "ambiguity": ambiguity_goal_met,
}
"""The grounded-stop rule of each task kind."""


def goal_met(
    task: Task, messages: Sequence[BaseMessage], checks: Mapping[str, GoalCheck] = GOAL_CHECKS
) -> bool:
    """Whether the conversation ``messages`` has met ``task``'s goal (False for kinds
    without a rule).

    Example:
        >>> goal_met(Task(kind="chat", request="Chat with me."), [AIMessage("Hello!")])
        False
    """
    check = checks.get(task.kind)
    return bool(check and check(task, messages))
