"""No choice by default: a candidate without a valid future never wins because of its index,
a turn where no candidate has an MR fails loudly, and given-up futures are counted and
warned about."""

from __future__ import annotations

import json
import math

import pytest
from langchain_core.messages import AIMessage, SystemMessage

from langgraph_collab import ScoringError, Task, score_candidates
from langgraph_collab.collection.collect import GIVE_UP_WARN_SHARE
from langgraph_collab.collection.records import read_records
from langgraph_collab.reward.scoring import best_index
from tests.conftest import collect_scripted, make_judge

DICE = Task(
    id="dice", kind="math", reference="\\frac{1}{6}",
    request="Two fair six-sided dice are rolled. What is the probability that the sum is 7?",
)  # fmt: skip


@pytest.mark.parametrize(
    ("scores", "best"),
    [
        ([None, -0.9], 1),
        ([None, None, 0.0], 2),
        ([math.nan, -1.0], 1),
        ([None, 0.4, 0.9, 0.9], 2),  # ties: the earlier candidate
        ([0.3, None, 0.3], 0),
        ([-math.inf, -2.0], 1),
    ],
)
def test_a_candidate_without_a_finite_mr_loses_to_any_with_one(scores, best):
    assert best_index(scores) == best


def test_no_finite_mr_is_nothing_to_choose_by():
    for scores in ([None], [None, None], [math.nan, None]):
        with pytest.raises(ScoringError, match="no candidate has a finite MR"):
            best_index(scores)


def _user(state):
    """Honest, except in the futures of the candidate "B", where it speaks as the assistant."""
    replies = [m.text for m in state["messages"] if isinstance(m, AIMessage)]
    if not replies:
        return "hi, a dice question"
    if replies[0] == "B":
        return "Certainly! How can I help you today?"
    return "Thanks! [[TERMINATE CHAT]]"


def _assistant(messages):
    """Proactive candidates ask; the base assistant answers "B"."""
    return "Which dice do you mean?" if isinstance(messages[0], SystemMessage) else "B"


def test_each_result_says_how_many_futures_were_given_up():
    given_up, kept = score_candidates(
        [("user", "dice?")], ["B", "Which dice?"], task=DICE, user=_user,
        assistant=_assistant, judge=make_judge(), samples=2, window=1,
    )  # fmt: skip
    assert (given_up.mean, given_up.n_failed, given_up.n_gave_up) == (None, 2, 2)
    assert kept.n_gave_up == 0 and kept.mean is not None
    assert best_index([given_up.mean, kept.mean]) == 1


def test_collection_warns_when_the_guard_gives_up_on_many_futures(tmp_path):
    with pytest.warns(RuntimeWarning, match="gave up on 2 of 4 forward samples"):
        summary = collect_scripted(tmp_path, [DICE], user=_user, assistant=_assistant, samples=2)
    assert (summary.futures, summary.futures_given_up) == (4, 2)
    assert summary.futures_given_up > GIVE_UP_WARN_SHARE * summary.futures
    (record,) = read_records(tmp_path / "records.jsonl")
    (turn,) = record.turns
    assert [c.content for c in turn.candidates] == ["Which dice do you mean?", "B"]
    assert turn.chosen == 0 and [c.n_gave_up for c in turn.candidates] == [0, 2]


def test_a_turn_where_no_candidate_has_an_mr_ends_the_conversation_as_a_counted_failure(
    tmp_path,
):
    def drifting(state):
        replies = [m for m in state["messages"] if isinstance(m, AIMessage)]
        return "Certainly! How can I help you today?" if replies else "hi, a dice question"

    summary = collect_scripted(tmp_path, [DICE], user=drifting, assistant=_assistant, samples=2)
    (record,) = read_records(tmp_path / "records.jsonl")
    assert record.stop_reason == "failure" and record.turns == []  # nothing chosen
    assert "no candidate has a finite MR" in record.failure
    assert "4 of 4 futures given up" in record.failure
    assert [m["role"] for m in record.messages] == ["user"]
    assert summary.stop_reasons == {"failure": 1} and summary.errors == {}
    assert json.loads((tmp_path / "summary.json").read_text())["stop_reasons"] == {"failure": 1}
