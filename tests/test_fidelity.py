"""The simulated user is checked turn by turn (drift, leak, off-goal, garbled), failing turns
are regenerated and counted, futures that keep failing are masked; conversations stop when
their goal is met, and every result says why it stopped."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langgraph_collab import Task, create_conversation_graph, score_candidates
from langgraph_collab.errors import Backoff
from langgraph_collab.reward.fidelity import (
    FidelityGuard,
    TurnContext,
    create_fidelity_guard,
    garbled,
    goal_leak,
    llm_check,
    off_goal,
    role_drift,
)
from langgraph_collab.reward.stopping import GOAL_CHECKS, goal_met
from langgraph_collab.tasks import load_tasks
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import collect_scripted, make_assistant, make_judge

MATH = Task(
    id="m", kind="math", reference="\\frac{1}{6}",
    request="Two fair six-sided dice are rolled. What is the probability that the sum is 7?",
)  # fmt: skip
DOC = Task(
    id="d", kind="document", request="Write a short note inviting the team to a picnic.",
    reference="Dear team, join us for a picnic by the river this Saturday at noon. Bring a "
    "blanket and your favourite snack; we will bring drinks, games and plenty of shade.",
)  # fmt: skip
CONTEXT = TurnContext(task=MATH, messages=[AIMessage("What would you like to know?")])


@pytest.mark.parametrize(
    "turn",
    [
        "Certainly! I'd be happy to help you with that probability question.",
        "How can I assist you today?",
        "The answer is 1/6 because six of the 36 outcomes add up to 7.",
        "Step 1: count the outcomes.\nStep 2: divide.",
        "```python\ndef f(x):\n    return x\n```",
        "word " * 300,
    ],
)
def test_role_drift_is_caught(turn):
    assert role_drift(turn, CONTEXT)


@pytest.mark.parametrize(
    "turn",
    [
        "hey, quick dice question for you",
        "I think it's two dice, regular ones. Can you just give me the number?",
        "Hmm, I don't follow the second part. Why 36?",
        "Thanks, that's what I needed!",
    ],
)
def test_faithful_user_turns_pass_every_rule(turn):
    guard = create_fidelity_guard()
    assert guard.check(turn, task=MATH, messages=CONTEXT.messages) == []


def test_goal_leak_catches_pasted_request_reference_and_document():
    pasted = "Two fair six-sided dice are rolled. What is the probability that the sum is 7? Go."
    assert goal_leak(pasted, CONTEXT) == "copies the hidden request"
    doc_context = TurnContext(task=DOC)
    copied = "Here: join us for a picnic by the river this Saturday at noon. Bring a blanket."
    assert goal_leak(copied, doc_context) == "copies the hidden reference"
    assert goal_leak("Something for a picnic with my team, casual tone.", doc_context) is None
    named = Task(kind="ambiguity", request="Where did she go?", reference="To a jazz bar downtown")
    assert goal_leak("She went to a jazz bar downtown, right?", TurnContext(task=named))
    # ...but repeating what the assistant already said is not a leak.
    said = TurnContext(task=named, messages=[AIMessage("Lena went to a jazz bar downtown.")])
    assert goal_leak("Yes, the jazz bar downtown, thanks!", said) is None


def test_off_goal_and_garbled():
    unrelated = (
        "Yesterday my neighbour repainted his garage door bright orange while tourists "
        "photographed seagulls circling lighthouse ruins near harbour cafes"
    )
    assert off_goal(unrelated, CONTEXT) == "shares no word with the goal or the chat"
    assert off_goal("Can you explain why the dice probability is that?", CONTEXT) is None
    assert garbled("", CONTEXT) == "empty"
    assert garbled("$$$ ### 123 !!! ??? %%% ***", CONTEXT) == "mostly not words"
    assert garbled("yes yes yes yes yes yes yes yes yes yes yes yes yes", CONTEXT)
    assert garbled("ok\x00\x01 fine", CONTEXT) == "control characters"
    assert garbled("Perfect, thanks.", CONTEXT) is None


def test_the_stop_token_alone_is_a_faithful_turn_and_checks_are_replaceable():
    guard = create_fidelity_guard()
    assert guard.check("[[TERMINATE CHAT]]", task=MATH) == []
    assert guard.check("", task=MATH) == ["garbled"]

    def shouting(text, context):
        return "shouts" if text.isupper() else None

    custom = create_fidelity_guard(checks={"shouting": shouting}, retries=0)
    assert custom.check("WHAT IS IT", task=MATH) == ["shouting"]
    assert custom.check("Certainly! How can I help?", task=MATH) == []  # rules replaced
    with pytest.raises(TypeError, match="not callable"):
        create_fidelity_guard(extra_checks={"bad": 3})
    with pytest.raises(ValueError, match="retries"):
        create_fidelity_guard(retries=-1)


def test_the_llm_check_asks_a_judge_model():
    verdicts = iter(
        ['{"faithful": false, "reason": "role_drift"}', '{"faithful": true, "reason": "ok"}']
    )
    judge = ScriptedChatModel(script=lambda messages: next(verdicts))
    guard = create_fidelity_guard(checks={}, extra_checks={"llm": llm_check(judge)})
    assert not guard.rules_only
    assert guard.check("Let me solve this for you.", task=MATH) == ["llm"]
    assert guard.check("what's the chance?", task=MATH) == []
    assert judge.calls == 2


def _user(replies):
    """A scripted simulated user: the replies in turn, then the stop token."""
    queue = list(replies)

    def script(messages):
        return queue.pop(0) if queue else "Thanks! [[TERMINATE CHAT]]"

    return ScriptedChatModel(script=script)


def test_a_failing_turn_is_regenerated_and_counted():
    user = _user(["Certainly! How can I help you?", "hi, dice question", "why 6?"])
    graph = create_conversation_graph(user=user, assistant=make_assistant(), max_turns=3)
    out = graph.invoke({"messages": [], "task": MATH})
    said = [m.text for m in out["messages"] if isinstance(m, HumanMessage)]
    assert said == ["hi, dice question", "why 6?", "Thanks! [[TERMINATE CHAT]]"]
    assert out["fidelity"].rejected == {"role_drift": 1} and out["fidelity"].kept == 3
    assert out["stop_reason"] == "user"


def test_a_user_that_keeps_failing_ends_the_future_which_is_masked():
    drifting = ScriptedChatModel(script=lambda m: "Sure! Here is the solution: 1/6.")
    honest = _user(["why?"])

    def user(state):  # drifts only in futures of the second candidate
        replied = [m.text for m in state["messages"] if isinstance(m, AIMessage)]
        model = drifting if replied and replied[0] == "B" else honest
        return model.invoke("x").text

    good, bad = score_candidates(
        [("user", "dice?")], ["A", "B"], task=MATH, user=user, assistant=make_assistant(),
        judge=make_judge(), samples=2, window=2,
    )  # fmt: skip
    assert good.n_failed == 0 and bad.n_failed == 2 and bad.mean is None
    assert bad.fidelity.rejected == {"role_drift": 6}  # 2 futures x 3 tries
    assert all(s.stop_reason == "failure" and "fidelity" in s.error for s in bad.samples)
    assert good.fidelity.rejected == {} and good.stop_reasons


def test_stop_reasons_user_budget_goal_met_and_failure():
    def run(user, assistant, **options):
        graph = create_conversation_graph(user=user, assistant=assistant, max_turns=2, **options)
        return graph.invoke({"messages": [], "task": MATH})

    assert run(_user(["dice?"]), make_assistant())["stop_reason"] == "user"
    chatty = ScriptedChatModel(script=lambda m: "and then?")
    assert run(chatty, make_assistant())["stop_reason"] == "budget"
    solver = ScriptedChatModel(script=lambda m: "The probability is $\\boxed{\\frac{1}{6}}$.")
    assert run(chatty, solver, grounded_stop=True)["stop_reason"] == "goal_met"
    assert run(chatty, solver)["stop_reason"] == "budget"  # grounded stop is opt-in here
    broken = ScriptedChatModel(script=lambda m: "Certainly! How can I help?")
    fast = FidelityGuard(retries=0)
    out = run(broken, make_assistant(), fidelity=fast)
    assert out["stop_reason"] == "failure" and out["fidelity"].rejected == {"role_drift": 1}
    assert run(broken, make_assistant(), fidelity=False)["stop_reason"] == "budget"


@pytest.mark.parametrize(
    ("reply", "met"),
    [
        ("So the answer is $\\frac{1}{6}$.", True),
        ("The probability is 1/6.", True),
        ("It comes to \\boxed{0.5}.", False),
        ("Could you tell me how many dice?", False),
        (
            "Is it \\boxed{\\frac{1}{6}} or \\boxed{\\frac{1}{3}}? I'd say \\boxed{\\frac{1}{3}}.",
            False,
        ),
        ("The probability is 1/6. Want me to list the outcomes?", True),
        ("Out of 36 outcomes, 6 give 7, so 1/6 of them. Do you want it as a decimal?", False),
    ],
)
def test_grounded_stop_math(reply, met):
    assert goal_met(MATH, [HumanMessage("dice?"), AIMessage(reply)]) is met


@pytest.mark.parametrize(
    "question",
    [
        "Before step 1, could you tell me whether x is in radians?",
        "Sure! Step 1 is to pick a method. Which one did your class use?",
        "Do you mean the limit at 1, or at 0?",
        "I have 1 question first: degrees or radians?",
    ],
)
def test_a_clarifying_question_that_mentions_the_reference_does_not_stop(question):
    limit = Task(kind="math", request="What is the limit of sin(x)/x as x approaches 0?",
                 reference="1")  # fmt: skip
    assert not goal_met(limit, [HumanMessage("limit help"), AIMessage(question)])
    assert goal_met(limit, [HumanMessage("limit help"), AIMessage("The limit is 1.")])


def test_grounded_stop_code_document_ambiguity_and_other_kinds():
    code = load_tasks("code", limit=1)[0]
    fenced = f"Here you go:\n```python\n{code.reference}\n```"
    assert goal_met(code, [HumanMessage("help"), AIMessage(fenced)])
    wrong = "```python\ndef nothing():\n    pass\n```"
    assert not goal_met(code, [HumanMessage("help"), AIMessage(wrong)])
    assert not goal_met(code, [HumanMessage("help"), AIMessage("Which inputs?")])

    assert goal_met(DOC, [HumanMessage("note"), AIMessage(DOC.reference)])
    assert not goal_met(DOC, [HumanMessage("note"), AIMessage("Dear team, picnic Saturday.")])

    abg = next(t for t in load_tasks("ambiguity") if t.metadata.get("ambiguous") is True)
    answer = AIMessage(f"{abg.reference}.")
    assert not goal_met(abg, [HumanMessage(abg.opening), answer])  # answered without asking
    asked = [HumanMessage(abg.opening), AIMessage("Do you mean the first or the second?"),
             HumanMessage("the second one"), answer]  # fmt: skip
    assert goal_met(abg, asked)
    clear = next(t for t in load_tasks("ambiguity") if t.metadata.get("ambiguous") is False)
    assert goal_met(clear, [HumanMessage(clear.opening), AIMessage(f"{clear.reference}.")])

    chat = Task(request="Plan a trip")
    assert not goal_met(chat, [HumanMessage("trip"), AIMessage("Done!")])
    assert set(GOAL_CHECKS) == {"math", "code", "document", "ambiguity"}


def test_collection_records_stop_reasons_and_fidelity(tmp_path):
    from langgraph_collab import create_simulated_user
    from langgraph_collab.collection.records import read_records

    task = load_tasks("math", limit=1)[0]
    solver = ScriptedChatModel(script=lambda m: f"The answer is ${task.reference}$.")
    flaky = iter(["Certainly! I can help with that."] + ["hm, and?"] * 50)
    user = create_simulated_user(
        ScriptedChatModel(script=lambda m: next(flaky)), backoff=Backoff(base=0.001)
    )
    summary = collect_scripted(tmp_path, [task], user=user, assistant=solver, candidates=1)
    (record,) = read_records(tmp_path / "records.jsonl")
    assert record.stop_reason == "goal_met" and len(record.turns) == 1
    assert record.fidelity.rejected == {"role_drift": 1}
    assert record.turns[0].candidates[0].samples[0].stop_reason == "goal_met"
    assert summary.stop_reasons == {"goal_met": 1} and summary.mean_turns == 1.0
    assert summary.fidelity.rejected == {"role_drift": 1}
    assert summary.user_model == "ScriptedChatModel"


def test_a_simulator_that_always_fails_the_guard_is_masked_and_reported_not_an_error():
    drifting = ScriptedChatModel(script=lambda m: "Certainly! How can I help you today?")
    (reward,) = score_candidates(
        [("user", "dice?")], ["Which dice?"], task=MATH, user=drifting,
        assistant=make_assistant(), judge=make_judge(), samples=2, window=1,
    )  # fmt: skip
    assert reward.mean is None and reward.n_failed == 2  # masked, not a ScoringError
    assert reward.fidelity.rejected == {"role_drift": 6}
    assert reward.stop_reasons == {"failure": 2}
