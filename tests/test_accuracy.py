"""The math grader accepts the right answer in any usual spelling and rejects wrong ones;
where it cannot decide, the judge's verdict decides, and without one the sample is masked."""

from __future__ import annotations

import pytest

from langgraph_collab import Task
from langgraph_collab.reward.metrics import METRICS, MetricError
from langgraph_collab.reward.metrics.answers import compare, normalise, symbolic_verdict
from langgraph_collab.reward.metrics.base import MetricInput
from langgraph_collab.roles.judge import Judgement

# (reference, answer, expected): True accepted, False rejected.
TABLE = [
    # identical to the reference, in every answer type the issue lists
    ("09:00", "09:00", True),
    ("3:2", "3:2", True),
    ("2^{10}", "2^{10}", True),
    ("10^{3}", "10^{3}", True),
    ("68 dollars", "68 dollars", True),
    ("(1, 2)", "(1, 2)", True),
    ("[0, 1)", "[0, 1)", True),
    ("\\text{Monday}", "\\text{Monday}", True),
    (
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}",
        True,
    ),
    # equal forms
    ("$09:00$", "9:00", True),
    ("2^{10}", "1024", True),
    ("10^{3}", "1000", True),
    ("10^{3}", "1,000", True),
    ("68 dollars", "68", True),
    ("\\$68", "68", True),
    ("68", "\\boxed{68}", True),
    ("(1, 2)", "\\boxed{(1,2)}", True),
    ("(1, 2)", "$\\left(1, 2\\right)$", True),
    ("[0, 1)", "[0,1)", True),
    ("\\frac{1}{2}", "0.5", True),
    ("\\frac{1}{2}", "\\dfrac{1}{2}", True),
    ("\\frac{1}{2}", "1/2", True),
    ("3\\sqrt{5}", "\\sqrt{45}", True),
    ("50\\%", "50", True),
    ("50\\%", "50%", True),
    ("90^\\circ", "90", True),
    ("90^{\\circ}", "90°", True),
    ("\\{1, 2, 3\\}", "\\{3, 1, 2\\}", True),
    ("x = 5", "5", True),
    ("5", "x=5", True),
    ("5 \\text{ cm}", "5", True),
    ("12 \\text{ inches}", "12 inches", True),
    ("-1", "-1.0", True),
    ("36\\pi", "36 \\pi", True),
    ("\\frac{9\\pi}{2}", "4.5\\pi", True),
    ("8+4\\sqrt{3}", "4\\sqrt{3}+8", True),
    ("\\text{(C)}", "(C)", True),
    ("\\text{yes}", "Yes", True),
    ("1,2", "1, 2", True),
    ("(3, -4)", "(3,-4)", True),
    ("(\\frac{1}{2}, 3)", "(0.5, 3)", True),
    ("2:3", "2 : 3", True),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", True),
    ("\\sqrt{2}+\\sqrt{3}", "\\sqrt{3}+\\sqrt{2}", True),
    ("333", "The answer is $333$.", True),
    ("\\frac{5}{24}", "\\boxed{\\frac{5}{24}}", True),
    ("(-\\infty, 0]", "(-\\infty,0]", True),
    ("3.5", "\\frac{7}{2}", True),
    # wrong answers
    ("09:00", "9:30", False),
    ("3:2", "2:3", False),
    ("2^{10}", "1000", False),
    ("68 dollars", "67", False),
    ("(1, 2)", "(2, 1)", False),
    ("(1, 2)", "[1, 2]", False),
    ("[0, 1)", "[0, 1]", False),
    ("[0, 1)", "(0, 1)", False),
    ("\\frac{1}{2}", "0.51", False),
    ("3\\sqrt{5}", "5\\sqrt{3}", False),
    ("50\\%", "40", False),
    ("90^\\circ", "45^\\circ", False),
    ("\\{1, 2, 3\\}", "\\{1, 2, 4\\}", False),
    (
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        "\\begin{pmatrix}1&2\\\\4&3\\end{pmatrix}",
        False,
    ),
    ("(3, -4)", "(3, 4)", False),
    ("-1", "1", False),
    ("36\\pi", "36", False),
    ("333", "334", False),
    ("1,2", "1, 3", False),
    ("(1, 2)", "(1, 2, 3)", False),
    # a trailing letter, factorial or power is part of the answer, never a unit
    ("2", "2x", False),
    ("4", "4i", False),
    ("3", "3k", False),
    ("1/2", "1/2x", False),
    ("12", "12!", False),
    ("7", "7^2", False),
    ("10", "10^{-1}", False),
    ("2", "2 x", False),
    ("5", "5n", False),
    ("6", "6a", False),
    ("8", "8\\pi", False),
    ("3", "3\\sqrt{2}", False),
    ("4", "4e", False),
    ("100", "100x^2", False),
    ("9", "9^{2}", False),
    ("2", "2^{3}", False),
    ("5", "5!", False),
    ("3", "3i", False),
    ("10", "10k", False),
    ("\\frac{1}{2}", "\\frac{1}{2}x", False),
    ("12", "12y", False),
    ("3", "3t", False),
    ("3", "3h", False),
    ("2", "2ab", False),
    ("7", "7!", False),
    ("1", "10^{-1}", False),
    ("6", "6 \\text{ x}", False),
    ("68 dollars", "68x", False),
    ("5 \\text{ cm}", "5k", False),
    ("\\frac{1}{6}", "\\frac{1}{6}n", False),
    ("1000", "1k", False),
    ("\\frac{1}{6}", "200!", False),
    # units from the list are units, attached or not
    ("5", "5 cm", True),
    ("5", "5cm", True),
    ("5", "5 m", True),
    ("25", "25 \\text{cm}^2", True),
    ("\\frac{1}{2}", "\\frac{1}{2} \\text{ hours}", True),
]


def test_the_table_is_large_and_two_sided() -> None:
    assert len(TABLE) >= 60
    assert sum(e for *_, e in TABLE) >= 30 and sum(not e for *_, e in TABLE) >= 20


@pytest.mark.parametrize(("reference", "answer", "expected"), TABLE)
def test_grader_table(reference: str, answer: str, expected: bool) -> None:
    assert compare(reference, answer) is expected


@pytest.mark.parametrize(("reference", "answer", "expected"), TABLE)
def test_the_metric_agrees_even_against_a_contrary_judge(
    reference: str, answer: str, expected: bool
) -> None:
    task = Task(kind="math", request="?", reference=reference)
    judged = Judgement(artifact=answer, accuracy=float(not expected))
    assert METRICS["accuracy"](MetricInput(task, [], [], judged)) == float(expected)


def test_an_answer_equal_to_its_reference_always_scores_one() -> None:
    for reference, *_ in TABLE:
        for spelled in (reference, f"${reference}$", f"\\boxed{{{reference}}}", f" {reference} "):
            assert compare(reference, spelled) is True, (reference, spelled)


def test_normalise() -> None:
    assert normalise("$\\boxed{\\text{68 dollars}}$.") == "68"
    assert normalise("\\left( 1,\\, 2 \\right)") == "(1,2)"


def test_undecided_answers_go_to_the_judge_or_are_masked() -> None:
    task = Task(kind="math", request="Which day?", reference="\\text{Monday}")
    sample = MetricInput(task, [], [], Judgement(artifact="the first weekday", accuracy=1.0))
    assert compare(task.reference, "the first weekday") is None
    assert METRICS["accuracy"](sample) == 1.0
    unjudged = MetricInput(task, [], [], Judgement(artifact="the first weekday"))
    with pytest.raises(MetricError):
        METRICS["accuracy"](unjudged)


def test_power_towers_are_refused_not_computed() -> None:
    assert compare("1", "2^{2^{2^{2^{2^{20}}}}}") is None


@pytest.mark.parametrize(
    "answer",
    [
        "\\sum_{n=1}^{1000} n!",
        "\\prod_{k=1}^{50} (k^2 + 1)",
        "\\int_0^{\\infty} e^{-x^2} dx",
        "\\lim_{x \\to 0} \\frac{\\sin x}{x}",
        "\\binom{1000}{500}",
        "1" * 45,
        "x^2 + " * 60 + "1",
    ],
)
def test_answers_sympy_could_choke_on_are_left_to_the_judge(answer):
    # Cheap screens spare the time bound what sympy would spend it all on.
    assert compare("\\frac{1}{6}", answer) is None


def test_a_comparison_past_its_time_bound_is_the_timeout_verdict_and_the_worker_comes_back():
    # 9^(9^9) is a C-level integer power no alarm interrupts: the worker is killed.
    assert symbolic_verdict("1", "9^{9^{9}}", seconds=0.2) == "timeout"
    assert symbolic_verdict("\\frac{1}{2}", "0.5") == "equal"
    assert compare("2", "2x") is False


def test_the_grader_never_accepts_a_wrong_answer_from_a_contrary_judge_either():
    wrong = [(r, a) for r, a, e in TABLE if not e]
    assert len(wrong) >= 50
    for reference, answer in wrong:
        task = Task(kind="math", request="?", reference=reference)
        judged = Judgement(artifact=answer, accuracy=1.0)
        assert METRICS["accuracy"](MetricInput(task, [], [], judged)) == 0.0, answer
