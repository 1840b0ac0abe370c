"""Judges: extract the final artifact, grade interactivity and (for math) accuracy.

The default judge does all three in one structured call per forward sample, where the
reference code asks each question in a call of its own (``benchmarks/mr_latency.py`` counts
the calls per MR both ways); ``combined=False`` runs one call per question instead.
Structured output goes by the first method the server honours (json_schema, function
calling, json mode, then tolerantly parsed text; :mod:`langgraph_collab.roles.structured`),
or by ``method=``. Any callable ``state -> Judgement | dict`` can replace a judge.

Interactivity scales: the judge grades A/B/C. The reward uses the reference code's scale
(A=1, B=0.5, C=0); the paper's Table 1 reports ITR as 2*(S-2.5) with A=3, B=2, C=1
(:func:`paper_itr`).

Example:
    >>> from langgraph_collab import Task, create_judge
    >>> judge = create_judge(lambda state: {"artifact": "4", "grade": "A", "accuracy": 1.0})
    >>> judge.invoke({"messages": [], "task": Task(request="2+2?")}).interactivity
    1.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel
from pydantic import BaseModel, Field, ValidationError, model_validator

from langgraph_collab.errors import DEFAULT_BACKOFF, Backoff
from langgraph_collab.roles.models import load_chat_model
from langgraph_collab.roles.prompts import load_prompt, render
from langgraph_collab.roles.role import MalformedReply, Role, transcript
from langgraph_collab.roles.structured import Method, StructuredOutput
from langgraph_collab.roles.structured import tolerant_parse as tolerant_parse  # re-exported
from langgraph_collab.state import Task

Grade = Literal["A", "B", "C"]
REFERENCE_SCALE: dict[str, float] = {"A": 1.0, "B": 0.5, "C": 0.0}
PAPER_POINTS: dict[str, int] = {"A": 3, "B": 2, "C": 1}
ACCURACY_KINDS = ("math",)

JudgeLike = BaseChatModel | str | Runnable | Callable[[dict], Any] | Role
"""What can judge: a chat model or spec (an LLM judge), a Runnable or callable returning a
:class:`Judgement` or a dict of its fields, or a ready :class:`Role`."""


def paper_itr(grade: str) -> float:
    """The paper's interactivity score for a grade: 2 * (S - 2.5) with A=3, B=2, C=1.

    Example:
        >>> [paper_itr(grade) for grade in "ABC"]
        [1.0, -1.0, -3.0]
    """
    return 2 * (PAPER_POINTS[grade] - 2.5)


class Judgement(BaseModel):
    """What the judge says about one conversation.

    ``interactivity`` is on the reference scale (A=1, B=0.5, C=0) and follows ``grade``.
    ``accuracy`` is 1.0/0.0 when the task asks for it, else None. Anything else (an
    interactivity outside [0, 1], an accuracy outside {0, 1}, a grade contradicting its
    score) is refused: :func:`parse_judgement` turns that into a :class:`MalformedReply`.

    Example:
        >>> Judgement(grade="B").interactivity
        0.5
    """

    artifact: str = ""
    grade: Grade | None = None
    interactivity: float | None = None
    accuracy: float | None = None
    rationale: str = ""

    @model_validator(mode="after")
    def _scale(self) -> Judgement:
        if self.grade is not None and self.interactivity is None:
            self.interactivity = REFERENCE_SCALE[self.grade]
        score = self.interactivity
        if score is not None and not 0.0 <= score <= 1.0:  # also refuses NaN
            raise ValueError(f"interactivity {score} is outside its scale [0, 1]")
        if self.grade is not None and score != REFERENCE_SCALE[self.grade]:
            raise ValueError(f"grade {self.grade} contradicts interactivity {score}")
        if self.accuracy is not None and self.accuracy not in (0.0, 1.0):
            raise ValueError(f"accuracy {self.accuracy} is not 0 or 1")
        return self


class JudgeReply(BaseModel):
    """The structured reply asked of an LLM judge (the combined judge: one call answers
    extraction, interactivity and accuracy).

    Example:
        >>> JudgeReply(thought="It asked first.", final_artifact="1/6", interactivity="A",
        ...            correct=True).interactivity
        'A'
    """

    thought: str = Field(description="One or two sentences on how the chat went.")
    final_artifact: str = Field(description="The final result the chat produced, copied.")
    interactivity: Grade = Field(description="A, B or C, as the rubric defines.")
    correct: bool | None = Field(description="Whether the final answer matches the reference.")


class ExtractReply(BaseModel):
    """The extraction judge's reply (``combined=False``): the chat's final artifact.

    Example:
        >>> ExtractReply(final_artifact="def inc(x): return x + 1").final_artifact[:7]
        'def inc'
    """

    final_artifact: str


class InteractivityReply(BaseModel):
    """The interactivity judge's reply (``combined=False``): a grade and why.

    Example:
        >>> InteractivityReply(thought="No question asked.", interactivity="C").interactivity
        'C'
    """

    thought: str
    interactivity: Grade


class AccuracyReply(BaseModel):
    """The accuracy judge's reply (``combined=False``, math with a reference).

    Example:
        >>> AccuracyReply(thought="1/6 is right.", correct=True).correct
        True
    """

    thought: str
    correct: bool


def _asks_accuracy(task: Task) -> bool:
    return task.kind in ACCURACY_KINDS and bool(task.reference)


def _fields(state: dict) -> dict[str, str]:
    task: Task = state["task"]
    reference = f"\nThe reference answer: {task.reference}\n" if _asks_accuracy(task) else ""
    accuracy = (
        "true if the final answer is equivalent to the reference answer, else false."
        if reference
        else "null (there is no reference answer to compare with)."
    )
    return {
        "goal": task.request,
        "reference": reference,
        "accuracy": accuracy,
        "transcript": transcript(state.get("messages", [])),
    }


def _combined(
    model: BaseChatModel,
    template: str,
    *,
    method: Method,
    name: str,
    retries: int,
    backoff: Backoff,
) -> Role:
    def to_judgement(reply: JudgeReply, state: dict) -> Judgement:
        return Judgement(
            artifact=reply.final_artifact,
            grade=reply.interactivity,
            accuracy=float(bool(reply.correct)) if _asks_accuracy(state["task"]) else None,
            rationale=reply.thought,
        )

    return Role(
        name=name,
        model=StructuredOutput(model, JudgeReply, method=method, trace=False),
        prepare=lambda state: render(template, **_fields(state)),
        parse=to_judgement,
        retries=retries,
        backoff=backoff,
        chat_model=model,
    )


def _separate(model: BaseChatModel, method: Method) -> Runnable:
    def prompted(name: str, schema: type[BaseModel]) -> Runnable:
        return RunnableLambda(lambda s: render(load_prompt(name), **_fields(s))) | StructuredOutput(
            model, schema, method=method
        )

    accuracy = StructuredOutput(model, AccuracyReply, method=method)

    def merge(parts: dict) -> Judgement | Runnable:
        task: Task = parts["state"]["task"]
        judgement = Judgement(
            artifact=parts["extract"].final_artifact,
            grade=parts["grade"].interactivity,
            rationale=parts["grade"].thought,
        )
        if not _asks_accuracy(task):
            return judgement
        prompt = render(
            load_prompt("accuracy"),
            goal=task.request,
            reference=task.reference,
            artifact=judgement.artifact,
        )
        return (
            RunnableLambda(lambda _: prompt)
            | accuracy
            | RunnableLambda(
                lambda reply: judgement.model_copy(update={"accuracy": float(reply.correct)})
            )
        )

    parallel = RunnableParallel(
        state=RunnableLambda(lambda state: state),
        extract=prompted("extract", ExtractReply),
        grade=prompted("interactivity", InteractivityReply),
    )
    return parallel | RunnableLambda(merge)


def parse_judgement(reply: Any, state: dict | None = None) -> Judgement:
    """A :class:`Judgement` from what a custom judge returned (a Judgement or a dict).

    Invalid values are a :class:`MalformedReply` (retried like a bad model reply); any other
    type is a bug in the callable, a ``TypeError`` (never retried).

    Example:
        >>> parse_judgement({"artifact": "4", "grade": "B"}).interactivity
        0.5
        >>> parse_judgement({"grade": "D"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        langgraph_collab.errors.MalformedReply: the judge's values are invalid: ...
    """
    if isinstance(reply, Judgement):
        return reply
    if isinstance(reply, dict):
        try:
            return Judgement.model_validate(reply)
        except ValidationError as error:
            raise MalformedReply(f"the judge's values are invalid: {error}") from error
    raise TypeError(  # a bug in the callable: permanent, never retried
        f"a judge must return a Judgement or a dict, not {type(reply).__name__} {reply!r:.80}"
    )


def create_judge(
    model: JudgeLike,
    *,
    combined: bool = True,
    prompt: str | None = None,
    method: Method = "auto",
    retries: int = 2,
    backoff: Backoff = DEFAULT_BACKOFF,
    name: str = "judge",
) -> Role:
    """Build the judge that scores a whole conversation (``{"messages", "task"}``).

    Args:
        model: A chat model or spec (an LLM judge), or any Runnable/callable returning a
            :class:`Judgement` or a dict of its fields.
        combined: One structured call for extraction, interactivity and accuracy (default);
            False runs the extraction, interactivity and accuracy judges separately.
        prompt: The combined judge's template (fields ``goal``, ``reference``, ``accuracy``,
            ``transcript``).
        method: How an LLM judge is asked for structured output: ``"auto"`` (the first of
            json_schema, function calling, json mode and tolerantly parsed text that the
            server honours, kept per model), or one of ``"json_schema"``,
            ``"function_calling"``, ``"json_mode"``, ``"text"``
            (:mod:`langgraph_collab.roles.structured`). ``judge.model.chosen`` tells which is used.
        retries: Extra attempts after an unparseable reply or a transient error.
        backoff: How long to wait between attempts (:class:`~langgraph_collab.errors.Backoff`).
        name: Run name and ``role:`` tag in traces.

    Example:
        >>> judge = create_judge("openai:gpt-4o-mini")  # doctest: +SKIP
    """
    if isinstance(model, Role):
        return model
    if isinstance(model, BaseChatModel | str):
        chat = load_chat_model(model)
        if combined:
            template = prompt or load_prompt("judge")
            return _combined(
                chat, template, method=method, name=name, retries=retries, backoff=backoff
            )
        if prompt is not None:
            raise ValueError("prompt= applies to the combined judge only")
        runnable = _separate(chat, method)
    elif method != "auto":
        raise ValueError("method= applies to a chat model judge only")
    elif isinstance(model, Runnable) or callable(model):
        runnable = chat = model if isinstance(model, Runnable) else RunnableLambda(model)
    else:
        raise TypeError(f"Cannot judge with {type(model).__name__}")
    return Role(
        name=name,
        model=runnable,
        parse=parse_judgement,
        retries=retries,
        backoff=backoff,
        chat_model=chat,
    )
