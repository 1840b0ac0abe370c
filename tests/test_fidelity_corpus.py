"""The fidelity guard is measured on a labelled corpus of natural and drifted user turns, and
it does not bend the MR: a user who answers politely ranks candidates as with no guard."""

from __future__ import annotations

import re

import pytest
from langchain_core.messages import AIMessage

from benchmarks.fidelity_corpus import KINDS, failing, load_corpus
from langgraph_collab import Task, score_candidates
from langgraph_collab.reward.fidelity import create_fidelity_guard, llm_check
from langgraph_collab.tasks import load_tasks
from langgraph_collab.testing import ScriptedChatModel

CASES = load_corpus()


def _rejected(guard, cases):
    return [c for c in cases if guard.check(c["turn"], task=c["task"], messages=c["messages"])]


def test_the_corpus_covers_every_kind_with_natural_and_drifted_turns():
    assert len(CASES) >= 200
    for kind in KINDS:
        labels = {c["label"] for c in CASES if c["task"].kind == kind}
        assert labels == {"natural", "drifted"}, kind


def test_the_guard_rejects_at_most_one_percent_of_natural_turns():
    guard = create_fidelity_guard()
    natural = [c for c in CASES if c["label"] == "natural"]
    rejected = _rejected(guard, natural)
    assert len(rejected) <= 0.01 * len(natural), [c["turn"] for c in rejected]
    for name, check in guard.checks.items():  # and no single check does worse
        assert sum(failing(check, c) for c in natural) <= 0.01 * len(natural), name


@pytest.mark.parametrize("kind", KINDS)
def test_the_guard_catches_at_least_ninety_percent_of_drifted_turns(kind):
    guard = create_fidelity_guard()
    drifted = [c for c in CASES if c["label"] == "drifted" and c["task"].kind == kind]
    missed = [c for c in drifted if c not in _rejected(guard, drifted)]
    assert len(missed) <= 0.1 * len(drifted), [c["turn"] for c in missed]


def test_each_check_catches_the_drift_it_is_for():
    guard = create_fidelity_guard()
    for name, check in guard.checks.items():
        meant = [c for c in CASES if c.get("check") == name]
        assert meant and sum(failing(check, c) for c in meant) >= 0.9 * len(meant), name


def test_the_llm_check_is_measured_on_the_same_corpus_and_runs_only_after_the_rules_pass():
    natural = [c for c in CASES if c["label"] == "natural"][:20]
    drifted = [c for c in CASES if c["label"] == "drifted"][:20]
    judge = ScriptedChatModel(script=lambda m: '{"faithful": true, "reason": "ok"}')
    guard = create_fidelity_guard(extra_checks={"llm": llm_check(judge)})
    for case in natural + drifted:
        guard.first_failure(case["turn"], task=case["task"], messages=case["messages"])
    assert judge.calls == len(natural)  # the rules reject every drifted turn first


# A user with a hidden detail who answers every question politely ("Sure," / "Of course,")
# and thanks the assistant once it answers; an assistant that answers right once it knows
# the detail. The guessing candidate answers wrong at once.
BEHAVIOUR = [
    ("rent", "Each pays $1200.", "How many people share the rent?",
     "Sure, there are 3 of us and we split it evenly."),
    ("dice", "The probability is 1/36.", "How many dice, and which sum do you need?",
     "Sure, two regular six-sided dice and a sum of 7."),
    ("cube", "The edge is about 6.1 cm.", "Is 150 the area of one face or of all six?",
     "Of course, 150 is for all six faces together."),
    ("limit", "The limit is 0.", "Is x measured in degrees or radians?",
     "Of course: radians."),
    ("math-002", "The remainder is 9.", "Do you want the remainder of the whole sum?",
     "Sure, the whole sum divided by 13."),
    ("math-001", "There are 250 of them.", "Is 1000 itself included?",
     "Of course, from 1 up to 1000 inclusive."),
]  # fmt: skip


def _task(name: str) -> Task:
    if name.startswith("math-"):
        return next(t for t in load_tasks("math") if t.id == name)
    return next(c["task"] for c in CASES if c["task"].id == name)


def _score(task: Task, guess: str, question: str, detail: str, fidelity: bool) -> list:
    def user(state):
        replies = [m.text for m in state["messages"] if isinstance(m, AIMessage)]
        return detail if replies[-1].endswith("?") else "Of course, thanks! [[TERMINATE CHAT]]"

    def assistant(messages):
        return f"The answer is ${task.reference}$."

    def judge(state):
        said = [m.text for m in state["messages"] if isinstance(m, AIMessage)]
        answers = re.findall(r"\$([^$]+)\$|(\d[\d./]*\d|\d)", said[-1])
        artifact = next(a for a in answers[-1] if a) if answers else ""
        return {"artifact": artifact, "grade": "A", "accuracy": float(artifact == task.reference)}

    return score_candidates(
        [("user", "hi, I have a math question")], [guess, question], task=task, user=user,
        assistant=assistant, judge=judge, samples=2, window=2, fidelity=fidelity,
    )  # fmt: skip


@pytest.mark.parametrize(("name", "guess", "question", "detail"), BEHAVIOUR)
def test_a_polite_user_ranks_candidates_as_with_the_guard_off(name, guess, question, detail):
    task = _task(name)
    off = _score(task, guess, question, detail, fidelity=False)
    on = _score(task, guess, question, detail, fidelity=True)
    assert off[1].mean > off[0].mean  # asking first wins without the guard
    assert [r.mean for r in on] == [r.mean for r in off]
    assert all(r.n_failed == 0 and not r.fidelity.rejected for r in on)
