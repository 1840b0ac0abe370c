"""Evaluation over full simulated conversations: metrics per kind, stderr, ask-rates, failures,
the report's table and files. Scripted fake models, so every number is computed by hand."""

from __future__ import annotations

import json
import math
import re

import pytest
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage

from langgraph_collab import Task, aevaluate, evaluate
from langgraph_collab.evaluation.report import EvaluationReport
from langgraph_collab.evaluation.run import baseline_assistants
from langgraph_collab.reward.metrics.tokens import count_tokens
from langgraph_collab.reward.scoring import MetricStats
from langgraph_collab.tasks import load_tasks
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import judge_json, make_assistant, make_judge, make_user

# make_user(stop_after=1) + make_assistant(): the conversation every non-opening task gets.
CHAT = ["user message 0", "reply to: user message 0", "Great, thanks! [[TERMINATE CHAT]]"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def judge_by_request(verdicts: dict[str, dict], default: dict | None = None) -> ScriptedChatModel:
    """A judge whose verdict depends on which task's goal its prompt shows."""

    def script(messages: list[BaseMessage]) -> str:
        prompt = messages[-1].text
        for request, verdict in verdicts.items():
            if request in prompt:
                return judge_json(**verdict) if isinstance(verdict, dict) else verdict
        return judge_json(**(default or {"artifact": "", "grade": "B", "correct": None}))

    return ScriptedChatModel(script=script)


def run(tasks, judge, assistants=None, **options) -> EvaluationReport:
    return evaluate(
        tasks,
        assistants=assistants or {"base": make_assistant()},
        user=options.pop("user", make_user(stop_after=1)),
        judge=judge,
        max_turns=options.pop("max_turns", 3),
        progress=False,
        **options,
    )


def close(stats: MetricStats, mean: float, stderr: float, n: int) -> bool:
    return (
        stats.n == n
        and math.isclose(stats.mean, mean, abs_tol=1e-9)
        and math.isclose(stats.stderr, stderr, abs_tol=1e-9)
    )


def test_math_accuracy_tokens_and_itr_with_their_standard_errors():
    right, wrong = load_tasks("math", split="test", limit=2)
    judge = judge_by_request(
        {
            right.request: {"artifact": right.reference, "grade": "A", "correct": True},
            wrong.request: {"artifact": "7", "grade": "C", "correct": False},
        }
    )
    report = run([right, wrong], judge)
    assert report.models == ["base"] and report.kinds == ["math"]
    assert report.task_metrics == {"math": "accuracy"}
    stats = report.stats["base"]["math"]
    assert close(stats["accuracy"], 0.5, 0.5, 2)  # [1, 0]: sd = sqrt(0.5), se = sd / sqrt(2)
    assert close(stats["itr"], -1.0, 2.0, 2)  # A -> 1, C -> -3 on the paper's scale
    assert close(stats["interactivity"], 0.5, 0.5, 2)  # A -> 1, C -> 0
    tokens_k = sum(count_tokens(text) for text in CHAT) / 1000  # cl100k_base, whole chat
    assert close(stats["tokens_k"], tokens_k, 0.0, 2)
    assert "asked" not in stats and "ask_rate_ambiguous" not in stats
    row = next(r for r in report.rows if r.task_id == right.id)
    roles = ["user", "assistant", "user"]
    assert row.messages == [{"role": r, "content": c} for r, c in zip(roles, CHAT, strict=True)]
    assert (row.turns, row.grade, row.failure, row.ambiguous) == (1, "A", None, None)
    assert row.metrics["accuracy"] == 1.0 and row.metrics["itr"] == 1.0


@pytest.mark.parametrize(("kind", "metric"), [("code", "pass_rate"), ("document", "bleu")])
def test_code_pass_rate_and_document_bleu_on_bundled_tasks(kind, metric):
    good, bad = load_tasks(kind, split="test", limit=2)
    judge = judge_by_request(
        {
            good.request: {"artifact": good.reference, "grade": "B", "correct": None},
            bad.request: {"artifact": "", "grade": "B", "correct": None},
        }
    )
    report = run([good, bad], judge, token_counter=lambda text: len(text.split()))
    stats = report.stats["base"][kind]
    assert report.task_metrics[kind] == metric
    assert close(stats[metric], 0.5, 0.5, 2)  # the reference scores 1, an empty artifact 0
    assert close(stats["itr"], -1.0, 0.0, 2)  # B -> 2 -> 2 * (2 - 2.5)
    words = sum(len(text.split()) for text in CHAT)
    assert close(stats["tokens_k"], words / 1000, 0.0, 2)  # the custom counter was used


def make_judge_b() -> ScriptedChatModel:
    return ScriptedChatModel(script=[judge_json(artifact="the lake", grade="B", correct=None)])


def test_ask_rates_split_ambiguous_from_unambiguous_and_read_the_first_reply():
    tasks = load_tasks("ambiguity", split="test", limit=4)
    assert [t.metadata["ambiguous"] for t in tasks] == [True, False, True, False]

    def replies(first: str, later: str) -> ScriptedChatModel:
        def script(messages):
            return later if any(isinstance(m, AIMessage) for m in messages) else first

        return ScriptedChatModel(script=script)

    question, answer = "Do you mean Carlos or his grandfather?", "It was the lake."
    assistants = {"asker": replies(question, answer), "answerer": replies(answer, question)}
    report = run(tasks, make_judge_b(), assistants, user=make_user(stop_after=2))
    assert [r.turns for r in report.rows] == [2] * 8  # the user opens with the story, then 1 more
    asker, answerer = report.stats["asker"]["ambiguity"], report.stats["answerer"]["ambiguity"]
    assert close(asker["ask_rate_ambiguous"], 1.0, 0.0, 2)
    assert close(asker["ask_rate_unambiguous"], 1.0, 0.0, 2)  # over-asking shows up
    assert close(answerer["ask_rate_ambiguous"], 0.0, 0.0, 2)
    assert close(answerer["ask_rate_unambiguous"], 0.0, 0.0, 2)
    # clarification = asked iff ambiguous: [1, 0, 1, 0] for the asker, [0, 1, 0, 1] otherwise
    se = math.sqrt((4 * 0.25 / 3) / 4)
    assert close(asker["clarification"], 0.5, se, 4)
    assert close(answerer["clarification"], 0.5, se, 4)
    assert {r.ambiguous for r in report.rows} == {True, False}
    openings = [row.messages[0]["content"] for row in report.rows]
    assert openings == [task.opening for task in tasks * 2]


def test_failed_conversations_are_counted_not_scored_as_zero():
    ok, user_fails, judge_fails = load_tasks("math", split="test", limit=3)
    no_tests = Task(id="code-x", kind="code", request="Write f()", reference="def f(): pass")

    def user(messages):
        if user_fails.request in messages[0].text:
            raise ConnectionError("user model down")  # transient: retried, then a failure
        return "Great, thanks! [[TERMINATE CHAT]]" if len(messages) > 2 else "hi"

    judge = judge_by_request(
        {
            ok.request: {"artifact": ok.reference, "grade": "A", "correct": True},
            judge_fails.request: "no verdict in here",
        },
    )
    tasks = [ok, user_fails, judge_fails, no_tests]
    report = run(tasks, judge, user=ScriptedChatModel(script=user))
    failures = {r.task_id: r.failure for r in report.rows}
    assert failures[ok.id] is None
    assert failures[user_fails.id] == (
        "simulated_user (ScriptedChatModel): ConnectionError: user model down (after 3 attempts)"
    )
    assert (
        failures[judge_fails.id].startswith("judge (")
        and "MalformedReply" in failures[judge_fails.id]
    )
    assert failures[no_tests.id].startswith("metric: MetricError")  # no hidden tests to run
    assert report.n_failed == 3
    assert report.failed == {"base": {"code": 1, "math": 2}}
    assert close(report.stats["base"]["math"]["accuracy"], 1.0, 0.0, 1)  # not 1/3
    assert report.stats["base"]["code"]["pass_rate"] == MetricStats()  # nothing to average
    markdown = report.to_markdown()
    assert "| 1 (+2 failed) |" in markdown and "| n/a |" in markdown
    assert "0 (+1 failed)" in markdown
    assert "4 conversations (3 failed)" in report.summary()


@pytest.fixture(scope="module")
def mixed_report() -> EvaluationReport:
    tasks = load_tasks("math", split="test", limit=2) + load_tasks(
        "ambiguity", split="test", limit=2
    )
    verdicts = {t.request: {"artifact": t.reference, "grade": "A", "correct": True} for t in tasks}
    assistants = {"base": make_assistant(), "proactive": make_assistant()}
    return run(tasks, judge_by_request(verdicts), assistants)


def test_the_markdown_table_is_shaped_like_the_papers_table_1(mixed_report):
    markdown = mixed_report.to_markdown()
    tables = [block.splitlines() for block in markdown.split("\n\n") if block.startswith("|")]
    assert len(tables) == 2
    main, asks = tables
    header = [cell.strip() for cell in main[0].strip("|").split("|")]
    assert header == [
        "model",
        *("Math ACC", "Math tok (k)", "Math ITR", "Math n"),
        *("Abg CLR", "Abg tok (k)", "Abg ITR", "Abg n"),
    ]
    assert main[1] == "|" + "---|" * 9
    assert [line.split("|")[1].strip() for line in main[2:]] == ["base", "proactive"]
    for line in main[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == 9
        assert cells[1] == "100.0 ± 0.0" and cells[3] == "100.0 ± 0.0"  # ACC and ITR x100
        assert re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d", cells[2])
        assert cells[4] == cells[8] == "2"
    assert asks[0] == "| model | Abg ask, ambiguous (%) | Abg ask, unambiguous (%) |"
    assert len(asks) == 4 and asks[2].endswith("(n=1) |")
    assert "mean ± standard error" in markdown.lower()


def test_no_ask_rate_table_without_ambiguity_tasks():
    report = run(load_tasks("math", split="test", limit=1), judge_by_request({}))
    assert "ask" not in report.to_markdown().lower().split("mean")[0]


def test_save_writes_markdown_json_and_a_real_png(mixed_report, tmp_path):
    paths = mixed_report.save(tmp_path / "eval")
    assert sorted(p.name for p in paths.values()) == ["report.json", "report.md", "report.png"]
    png = (tmp_path / "eval" / "report.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 5_000
    assert mixed_report.to_markdown() in (tmp_path / "eval" / "report.md").read_text()
    loaded = EvaluationReport.load(tmp_path / "eval" / "report.json")
    assert loaded == mixed_report
    data = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert data["stats"]["base"]["math"]["accuracy"] == {"mean": 1.0, "stderr": 0.0, "n": 2}
    assert len(data["rows"]) == 8


def test_the_summary_fits_one_screen(mixed_report):
    lines = mixed_report.summary().splitlines()
    assert len(lines) == 1 + 2 * 2 + 1 + 2  # header, model x kind, the simulator per model
    assert lines[-2].startswith("- base: ") and "stops:" in lines[-2]
    assert lines[0].startswith("Evaluated 8 conversations (0 failed), 2 models x 2 kinds")
    assert all(len(line) < 160 for line in lines)
    assert "ACC 100.0 ± 0.0" in lines[1] and "n=2" in lines[1]


async def test_aevaluate_caps_conversations_in_flight():
    assistant = make_assistant(latency=0.02)
    tasks = load_tasks("math", split="test", limit=4)
    report = await aevaluate(
        tasks,
        assistants={"base": assistant},
        user=make_user(stop_after=1),
        judge=judge_by_request({}),
        max_turns=2,
        max_concurrency=2,
        progress=False,
    )
    assert len(report.rows) == 4 and report.n_failed == 0
    assert assistant.max_in_flight <= 2
    assert [r.task_id for r in report.rows] == [t.id for t in tasks]


def test_baseline_assistants_are_base_and_proactive():
    seen: dict[str, bool] = {}

    def script(messages):
        seen[messages[-1].text] = isinstance(messages[0], SystemMessage)
        return "ok"

    assistants = baseline_assistants(ScriptedChatModel(script=script))
    assert list(assistants) == ["base", "proactive"]
    assistants["base"].invoke({"messages": [("user", "a")]})
    assistants["proactive"].invoke({"messages": [("user", "b")]})
    assert seen == {"a": False, "b": True}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"assistants": {}}, "at least one assistant"),
        ({"max_turns": 0}, "max_turns"),
        ({"tasks": [Task(id="x", request="a")] * 2}, "unique"),
    ],
)
def test_bad_options_say_what_is_wrong(options, message):
    arguments = {
        "tasks": load_tasks("math", split="test", limit=1),
        "assistants": {"base": make_assistant()},
        "user": make_user(),
        "judge": judge_by_request({}),
        "progress": False,
    }
    arguments.update(options)
    with pytest.raises(ValueError, match=message):
        evaluate(arguments.pop("tasks"), **arguments)


@pytest.mark.integration
def test_the_embedded_model_evaluates_two_tasks_for_two_assistants(local_model):
    tasks = load_tasks("math", split="test", limit=1) + load_tasks(
        "ambiguity", split="test", limit=1
    )
    report = evaluate(
        tasks,
        assistants=baseline_assistants(local_model),
        user=local_model,
        judge=local_model,
        max_turns=1,
        progress=False,
    )
    assert len(report.rows) == 4
    assert report.n_failed < 4, [r.failure for r in report.rows]
    for row in report.rows:
        if row.failure is None:
            assert row.messages and row.grade in ("A", "B", "C")
            assert all(math.isfinite(value) for value in row.metrics.values())
    for by_kind in report.stats.values():
        for by_metric in by_kind.values():
            for stats in by_metric.values():
                assert stats.n == 0 or (math.isfinite(stats.mean) and math.isfinite(stats.stderr))
    assert len(report.to_markdown().split("\n\n")[0].splitlines()) == 2 + 2


def test_a_drifting_simulated_user_is_rejected_and_reported():
    from langgraph_collab.reward.fidelity import sounds_like_assistant

    assert sounds_like_assistant("Sure! Here is a plan. Let me know if you need more.")
    assert sounds_like_assistant("I hope this helps, happy writing!")
    assert not sounds_like_assistant("I need it for two people, in May.")
    task = load_tasks("math", split="test", limit=1)[0]
    drifting = ScriptedChatModel(script=lambda m: "Certainly! How can I help you today?")
    report = evaluate(
        [task], assistants={"base": make_assistant()}, user=drifting,
        judge=ScriptedChatModel(script=[judge_json()]), max_turns=2, progress=False,
    )  # fmt: skip
    (row,) = report.rows
    assert row.failure.startswith("simulated_user: fidelity: every one of 3 tries failed")
    assert row.fidelity.rejected == {"role_drift": 3} and row.stop_reason == "failure"
    fidelity = report.fidelity["base"]
    assert fidelity.counts.shares() == {"role_drift": 1.0}
    assert fidelity.stop_reasons == {"failure": 1} and fidelity.user_model == "ScriptedChatModel"
    assert "- base: 3 user turns written, rejected: role_drift 100%" in report.to_markdown()
    steady = run([task], ScriptedChatModel(script=[judge_json()]))
    assert steady.fidelity["base"].counts.rejected == {}
    assert steady.fidelity["base"].stop_reasons == {"user": 1}


def test_a_bug_in_a_role_stops_the_evaluation_instead_of_failing_rows_quietly():
    from langgraph_collab import PermanentError

    def user(messages):
        raise RuntimeError("a bug, not an outage")

    with pytest.raises(PermanentError, match=r"simulated_user.*RuntimeError: a bug"):
        run(
            load_tasks("math", split="test", limit=2),
            make_judge(),
            user=ScriptedChatModel(script=user),
        )
