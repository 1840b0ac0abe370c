import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableLambda

from langgraph_collab import Task, create_judge
from langgraph_collab.errors import MalformedReply, PermanentError, TransientFailure
from langgraph_collab.roles.judge import Judgement, JudgeReply, paper_itr, tolerant_parse
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import judge_json

STATE = {
    "messages": [HumanMessage("2+2?"), AIMessage("Do you mean in base 10?"), HumanMessage("yes")],
    "task": Task(kind="math", request="What is 2+2?", reference="4"),
}


def test_scales():
    assert [Judgement(grade=g).interactivity for g in "ABC"] == [1.0, 0.5, 0.0]
    assert [paper_itr(g) for g in "ABC"] == [1.0, -1.0, -3.0]


def test_combined_judge_parses_json_from_a_plain_model_and_sees_the_reference():
    prompts = []

    def script(messages):
        prompts.append(messages[-1].text)
        return "Here you go:\n" + judge_json(artifact="4", grade="B", correct=True)

    judgement = create_judge(ScriptedChatModel(script=script)).invoke(STATE)
    assert judgement == Judgement(artifact="4", grade="B", accuracy=1.0, rationale="fine")
    assert "The reference answer: 4" in prompts[0]
    assert "Assistant: Do you mean in base 10?" in prompts[0]


def test_no_accuracy_is_asked_or_kept_for_kinds_without_it():
    state = {**STATE, "task": Task(kind="chat", request="Chat with me", reference="secret")}
    prompts = []

    def script(messages):
        prompts.append(messages[-1].text)
        return judge_json(correct=True)

    judgement = create_judge(ScriptedChatModel(script=script)).invoke(state)
    assert judgement.accuracy is None
    assert "secret" not in prompts[0]


def test_tolerant_parse_reads_key_value_text():
    reply = tolerant_parse("Interactivity: b\nCorrect: yes", JudgeReply)
    assert (reply.interactivity, reply.correct) == ("B", True)
    with pytest.raises(MalformedReply):
        tolerant_parse("no idea", JudgeReply)


class StructuredFake(BaseChatModel):
    """A model with native structured output: returns the schema object directly."""

    @property
    def _llm_type(self) -> str:
        return "structured-fake"

    def _generate(self, *args, **kwargs):
        raise AssertionError("the structured path must be used")

    def with_structured_output(self, schema, *, include_raw=False, **kwargs):
        def answer(_):
            parsed = schema(thought="ok", final_artifact="4", interactivity="A", correct=False)
            raw = AIMessage(parsed.model_dump_json())
            return {"raw": raw, "parsed": parsed, "parsing_error": None} if include_raw else parsed

        return RunnableLambda(answer)


def test_structured_output_is_used_where_the_model_supports_it():
    judgement = create_judge(StructuredFake()).invoke(STATE)
    assert (judgement.grade, judgement.accuracy) == ("A", 0.0)


def test_a_custom_callable_replaces_the_judge_and_bad_returns_are_errors():
    judge = create_judge(lambda state: {"artifact": "x", "grade": "C"}, retries=0)
    assert judge.invoke(STATE).interactivity == 0.0
    # The wrong type from a callable is a bug in it: permanent, raised at once, not retried.
    with pytest.raises(PermanentError, match="must return a Judgement or a dict, not int 42"):
        create_judge(lambda state: 42, retries=3).invoke(STATE)


@pytest.mark.parametrize(
    "reply",
    [
        {"artifact": "4", "interactivity": 7.99},
        {"artifact": "4", "interactivity": float("nan")},
        {"artifact": "4", "grade": "A", "accuracy": 0.5},
        {"artifact": "4", "grade": "C", "interactivity": 1.0},
        {"artifact": "4", "accuracy": 2.0},
    ],
)
def test_judge_values_outside_their_scales_are_malformed_replies(reply):

    with pytest.raises((MalformedReply, TransientFailure), match="invalid"):
        create_judge(lambda state: reply, retries=0).invoke(STATE)
    assert create_judge(lambda state: {"artifact": "4", "grade": "A"}).invoke(STATE).grade == "A"


def test_method_is_for_chat_model_judges_and_within_what_the_model_can_be_asked():
    scripted = ScriptedChatModel(script=lambda messages: judge_json())
    assert create_judge(scripted, method="text").invoke(STATE).grade == "A"
    assert create_judge(scripted).model.candidates == ("text",)  # no structured output
    assert create_judge(StructuredFake()).model.candidates == ("native", "text")
    with pytest.raises(ValueError, match="picks its own structured-output method"):
        create_judge(scripted, method="json_schema")
    with pytest.raises(ValueError, match="chat model judge only"):
        create_judge(lambda state: {"grade": "A"}, method="function_calling")
