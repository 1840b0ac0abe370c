"""The report's measured effects come from the run's records, with n and standard error."""

from langgraph_collab.collection.records import CandidateRecord, ConversationRecord, TurnRecord
from langgraph_collab.state import Task
from langgraph_collab.train.report import chosen_rejected_gap, effect_lines, proactive_vs_base


def record(*turns: list[tuple[bool, float | None]]) -> ConversationRecord:
    return ConversationRecord(
        task=Task(request="x"),
        messages=[],
        turns=[
            TurnRecord(
                turn=i,
                prompt=[],
                chosen=0,
                candidates=[CandidateRecord(content="c", proactive=p, mr=mr) for p, mr in cands],
            )
            for i, cands in enumerate(turns)
        ],
    )


def test_proactive_and_plain_candidates_and_the_gap_are_measured():
    records = [record([(True, 0.9), (False, 0.5)], [(True, 0.7), (False, None)])]
    proactive, base = proactive_vs_base(records)
    assert (proactive.n, base.n) == (2, 1) and round(proactive.mean, 3) == 0.8
    gap = chosen_rejected_gap(records)
    assert gap.n == 1 and round(gap.mean, 3) == 0.4
    lines = effect_lines(records)
    assert lines[0].startswith("MR of proactive-prompt candidates 0.800 ± 0.100 (n=2)")
    assert "difference +0.300" in lines[0]
    assert lines[-1].startswith("MR gap chosen - rejected per turn")


def test_a_difference_within_two_standard_errors_is_called_so():
    records = [record([(True, 0.5), (False, 0.6)], [(True, 0.9), (False, 0.4)])]
    lines = effect_lines(records)
    assert any("does not move it measurably" in line for line in lines)
