"""The prompts put what every call of an MR shares first (fixed instructions, then the task's
goal) and what varies last (the chat), so a provider's prompt cache can reuse the prefix;
each role still gets every field it needs, and the user never sees a hidden reference."""

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from langgraph_collab import Task, create_judge, create_simulated_user
from langgraph_collab.reward.fidelity import llm_check
from langgraph_collab.reward.fidelity_rules import TurnContext
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import judge_json

MATH = Task(id="m", kind="math", request="Three friends split $2400. How much each?",
            reference="REF-800")  # fmt: skip
CHAT = [HumanMessage("I need to split a bill"), AIMessage("How many people share it?"),
        HumanMessage("Three of us.")]  # fmt: skip


def judge_prompts(task: Task, messages: list, *, combined: bool = True) -> list[str]:
    prompts: list[str] = []

    def script(sent):
        prompts.append(sent[-1].text)
        if combined:
            return judge_json(artifact="800", grade="A", correct=True)
        if "equivalent to the reference answer" in sent[-1].text:
            return '{"thought": "same", "correct": true}'
        if "Grade how well" in sent[-1].text:
            return '{"thought": "asked", "interactivity": "A"}'
        return '{"final_artifact": "800"}'

    judge = create_judge(ScriptedChatModel(script=script), combined=combined, method="text")
    judge.invoke({"messages": messages, "task": task})
    return prompts


def test_the_judge_gets_every_field_with_the_chat_last():
    chat = [*CHAT, AIMessage("Each pays $800.")]
    (prompt,) = judge_prompts(MATH, chat)
    for needed in (MATH.request, "The reference answer: REF-800", "User: Three of us.",
                   "Assistant: Each pays $800.", '"final_artifact"', '"interactivity"',
                   '"correct"', "equivalent to the reference answer"):  # fmt: skip
        assert needed in prompt
    rubric, goal, chat_at = (prompt.index(s) for s in ('"interactivity"', MATH.request, "User: I"))
    assert rubric < goal < chat_at  # instructions, then the goal, then the chat
    assert prompt.index("REF-800") < chat_at


def test_two_futures_of_one_mr_share_the_judge_prompt_up_to_where_their_chats_differ():
    one = judge_prompts(MATH, [*CHAT, AIMessage("Each pays $800.")])[0]
    two = judge_prompts(MATH, [*CHAT, AIMessage("Is that before tax?")])[0]
    shared = next(i for i, (a, b) in enumerate(zip(one, two, strict=False)) if a != b)
    assert one[:shared].endswith("User: Three of us.\n\nAssistant: ")
    assert shared / len(one) > 0.8


def test_judges_of_two_tasks_share_their_instructions():
    other = Task(id="o", kind="math", request="What is 6 x 7?", reference="42")
    one = judge_prompts(MATH, CHAT)[0]
    two = judge_prompts(other, CHAT)[0]
    assert one[: one.index(MATH.request)] == two[: two.index(other.request)]


def test_the_separate_judges_get_their_fields_with_the_chat_last():
    prompts = judge_prompts(MATH, [*CHAT, AIMessage("Each pays $800.")], combined=False)
    extract, grade, accuracy = (
        next(p for p in prompts if marker in p)
        for marker in ('"final_artifact"', "Grade how well", "equivalent to the reference")
    )
    for prompt in (extract, grade):
        assert prompt.index(MATH.request) < prompt.index("User: I need") == prompt.rindex("User: I")
        assert prompt.rstrip().endswith("Assistant: Each pays $800.")
    assert MATH.request in accuracy and "REF-800" in accuracy
    assert accuracy.index("equivalent") < accuracy.index(MATH.request)
    assert accuracy.rstrip().endswith("800")


@pytest.mark.parametrize("kind", ["math", "code", "ambiguity", "chat"])
def test_the_simulated_user_never_sees_the_reference(kind):
    task = Task(id="t", kind=kind, request="Help me with my task.", reference="REF-SECRET-9")
    seen: list[list] = []

    def script(messages):
        seen.append(messages)
        return "Sure, go on."

    user = create_simulated_user(ScriptedChatModel(script=script))
    user.invoke({"messages": CHAT[:2], "task": task})
    text = "\n".join(m.text for m in seen[0])
    assert "REF-SECRET-9" not in text and task.request in text


def test_the_simulated_user_prompt_puts_its_instructions_before_the_goal():
    seen: list[list] = []

    def script(messages):
        seen.append(messages)
        return "Three of us."

    create_simulated_user(ScriptedChatModel(script=script)).invoke(
        {"messages": CHAT[:2], "task": MATH}
    )
    system = seen[0][0]
    assert isinstance(system, SystemMessage)
    assert system.text.index("How to behave") < system.text.index(MATH.request)
    assert "[[TERMINATE CHAT]]" in system.text
    assert [m.text for m in seen[0][-2:]] == ["I need to split a bill", "How many people share it?"]


def test_the_fidelity_judge_gets_the_goal_the_reply_and_the_turn_last():
    prompts: list[str] = []

    def script(messages):
        prompts.append(messages[-1].text)
        return '{"faithful": true, "reason": "ok"}'

    check = llm_check(ScriptedChatModel(script=script))
    assert check("Three of us.", TurnContext(MATH, CHAT[:2])) is None
    prompt = prompts[0]
    assert prompt.index("role_drift") < prompt.index(MATH.request)
    assert prompt.index("How many people share it?") < prompt.index("Three of us.")
