import json
from pathlib import Path

import pytest

from langgraph_collab import Task
from langgraph_collab.reward.metrics import METRICS, MetricError, MetricInput
from langgraph_collab.reward.metrics.clarification import asks_for_clarification
from langgraph_collab.reward.metrics.pass_rate import run_hidden_tests
from langgraph_collab.roles.judge import Judgement
from langgraph_collab.tasks import TaskFormatError, load_tasks
from langgraph_collab.tasks.kinds import KINDS, task_kind

KIND_NAMES = ["math", "code", "document", "ambiguity"]


def sample(task: Task, artifact: str = "", reply: str = "") -> MetricInput:
    from langchain_core.messages import AIMessage

    window = [AIMessage(reply)] if reply else []
    return MetricInput(task, window, window, Judgement(artifact=artifact, grade="A"))


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_each_bundled_set_has_30_tasks_with_unique_ids_and_a_disjoint_split(kind):
    tasks = load_tasks(kind)
    assert len(tasks) >= 30
    assert len({t.id for t in tasks}) == len(tasks)
    assert {t.kind for t in tasks} == {kind}
    train, test = load_tasks(kind, split="train"), load_tasks(kind, split="test")
    assert {t.id for t in train} | {t.id for t in test} == {t.id for t in tasks}
    assert not {t.id for t in train} & {t.id for t in test}
    assert len(test) >= 6


def test_every_bundled_math_reference_and_solution_scores_1():
    accuracy = METRICS["accuracy"]
    for task in load_tasks("math"):
        assert accuracy(sample(task, task.reference)) == 1.0, task.id
        assert accuracy(sample(task, task.metadata["solution"])) == 1.0, task.id


def test_every_bundled_code_reference_passes_and_its_wrong_solution_fails():
    for task in load_tasks("code"):
        tests = task.metadata["test"]
        fenced = f"Here you go:\n```python\n{task.reference}\n```"
        assert METRICS["pass_rate"](sample(task, fenced)) == 1.0, task.id
        assert run_hidden_tests(task.metadata["wrong_solution"], tests) < 1.0, task.id


def test_every_bundled_document_scores_bleu_1_and_has_150_to_400_words():
    for task in load_tasks("document"):
        assert 150 <= len(task.reference.split()) <= 400, task.id
        assert METRICS["bleu"](sample(task, task.reference)) == 1.0, task.id
        assert METRICS["bleu"](sample(task, "A short unrelated note.")) < 0.1


def test_ambiguity_items_are_balanced_and_the_right_behaviour_scores_1():
    tasks = load_tasks("ambiguity")
    ambiguous = [t for t in tasks if t.metadata["ambiguous"]]
    assert len(ambiguous) * 2 == len(tasks)
    for task in tasks:
        assert task.opening.endswith(task.request) and task.metadata["passage"] in task.opening
        ask = "Which one do you mean: " + " or ".join(task.metadata["interpretations"]) + "?"
        right = ask if task.metadata["ambiguous"] else task.reference
        wrong = task.reference if task.metadata["ambiguous"] else ask
        assert METRICS["clarification"](sample(task, reply=right)) == 1.0, task.id
        assert METRICS["clarification"](sample(task, reply=wrong)) == 0.0, task.id


def test_kinds_carry_the_papers_lambda_and_a_user_description():
    assert task_kind("document").token_lambda == 1e-4
    assert task_kind("code").token_lambda == task_kind("math").token_lambda == 5e-4
    assert all(kind.description for kind in KINDS.values())
    assert task_kind("anything-else").metrics == ("interactivity",)


@pytest.mark.parametrize(
    ("reference", "answer", "score"),
    [
        ("\\frac{1}{2}", "0.5", 1.0),
        ("\\frac{1}{2}", "The probability is 1/2.", 1.0),
        ("0.5", "$\\frac{1}{2}$", 1.0),
        ("2\\sqrt{3}", "$\\sqrt{12}$", 1.0),
        ("\\frac{1}{6}", "The probability is 1/2.", 0.0),
        ("12", "\\boxed{12}", 1.0),
    ],
)
def test_math_accuracy_is_symbolic(reference, answer, score):
    task = Task(kind="math", request="?", reference=reference)
    assert METRICS["accuracy"](sample(task, answer)) == score


def test_math_accuracy_falls_back_to_the_judge_and_refuses_power_towers():
    task = Task(kind="math", request="?", reference="4")
    unparseable = MetricInput(task, [], [], Judgement(artifact="", grade="A", accuracy=1.0))
    assert METRICS["accuracy"](unparseable) == 1.0
    tower = MetricInput(task, [], [], Judgement(artifact="9^9^9^9^9", grade="A"))
    with pytest.raises(MetricError):  # undecided and unjudged: masked, not scored 0
        METRICS["accuracy"](tower)


def test_clarification_heuristic():
    assert asks_for_clarification("Which sister do you mean, Maya or Lena?")
    assert not asks_for_clarification("Lena went to a jazz bar. Anything else?")
    assert not asks_for_clarification("Lena went to a jazz bar.")


def test_a_sandbox_failure_masks_rather_than_zeroes(monkeypatch):
    from langgraph_collab.reward.metrics import MetricError
    from langgraph_collab.sandbox import run as sandbox

    def broken(*args, **kwargs):
        raise OSError("no processes left")

    monkeypatch.setattr(sandbox.subprocess, "Popen", broken)
    task = load_tasks("code", limit=1)[0]
    with pytest.raises(MetricError, match="internal error"):
        METRICS["pass_rate"](sample(task, task.reference))


COLLAB_ROWS = [
    {
        "prompt": [{"role": "user", "content": "help with a sum"}],
        "completion": "Which sum?",
        "conv_id": 7,
        "turn_id": 0,
        "score": 0.42,
        "single_turn_prompt": "What is $1+2$?",
        "single_turn_completion": "We add: $\\boxed{3}$.",
        "single_turn_metadata": json.dumps({"level": "Level 5"}),
        "sessions": [],
        "rewards": {"accuracy": [1.0]},
    },
    {
        "prompt": [
            {"role": "user", "content": "help with a sum"},
            {"role": "assistant", "content": "Which sum?"},
        ],
        "completion": "3",
        "conv_id": 7,
        "turn_id": 1,
        "score": 0.9,
        "single_turn_prompt": "What is $1+2$?",
        "single_turn_completion": "We add: $\\boxed{3}$.",
        "single_turn_metadata": {"level": "Level 5"},
        "sessions": [],
        "rewards": {},
    },
]


def test_the_published_collabllm_format_from_jsonl_and_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl = tmp_path / "math-hard.jsonl"
    jsonl.write_text("\n".join(json.dumps(row) for row in COLLAB_ROWS))
    parquet = tmp_path / "math-hard.parquet"
    rows = [
        {
            **row,
            "single_turn_metadata": json.dumps({"level": "Level 5"}),
            "rewards": json.dumps(row["rewards"]),
        }
        for row in COLLAB_ROWS
    ]
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    for path in (jsonl, parquet):
        (task,) = load_tasks(path, kind="math")
        assert (task.id, task.kind, task.request, task.reference) == (
            "7",
            "math",
            "What is $1+2$?",
            "3",
        )
        assert task.metadata["level"] == "Level 5" and "boxed" in task.metadata["solution"]


def test_single_turn_sources_math_hard_and_bigcodebench(tmp_path):
    path = tmp_path / "sources.jsonl"
    rows = [
        {
            "problem": "Compute $2^3$.",
            "solution": "$2^3 = \\boxed{8}$",
            "level": "Level 5",
            "type": "Algebra",
        },
        {
            "task_id": "BigCodeBench/1",
            "instruct_prompt": "Write task_func returning 1.",
            "code_prompt": "def task_func():\n",
            "canonical_solution": "    return 1\n",
            "test": "import unittest\nclass TestCases(unittest.TestCase):\n"
            "    def test(self):\n        self.assertEqual(task_func(), 1)\n",
            "entry_point": "task_func",
            "libs": "[]",
        },
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    math, code = load_tasks(path)
    assert (math.kind, math.reference) == ("math", "8")
    assert code.kind == "code" and code.id == "BigCodeBench/1"
    assert METRICS["pass_rate"](sample(code, code.reference)) == 1.0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "x", "kind": "math", "request": ""}', r"row 2: field 'request'"),
        ('{"id": "x", "request": "q", "metadata": [1]}', r"row 2: field 'metadata'"),
        ('{"conv_id": 1, "single_turn_completion": "a"}', r"row 2: unknown format"),
        ('{"single_turn_prompt": "q"}', r"row 2: field 'conv_id' is missing"),
        ("{not json", r"row 2: not valid JSON"),
    ],
)
def test_a_malformed_row_names_the_file_the_row_and_the_field(tmp_path, line, message):
    path = tmp_path / "tasks.jsonl"
    path.write_text('{"id": "ok", "request": "fine"}\n' + line + "\n")
    with pytest.raises(TaskFormatError, match=message) as error:
        load_tasks(path)
    assert str(path) in str(error.value)


def test_unknown_names_and_an_offline_hub_give_clear_errors():
    with pytest.raises(FileNotFoundError, match=r"not a bundled set.*did you mean 'math'"):
        load_tasks("maths")
    with pytest.raises(ValueError, match="split must be"):
        load_tasks("math", split="validation")
    with pytest.raises(RuntimeError, match="Offline"):
        load_tasks("collabllm/collabllm-multiturn-math-hard")


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_mr_scores_every_kind_with_its_metrics(kind):
    from langgraph_collab.reward.score import multiturn_aware_reward
    from langgraph_collab.testing import ScriptedChatModel
    from tests.conftest import judge_json, make_assistant, make_user

    task = load_tasks(kind, split="test", limit=1)[0]
    artifact = f"```python\n{task.reference}\n```" if kind == "code" else task.reference
    judge = ScriptedChatModel(script=[judge_json(artifact=artifact, grade="A", correct=True)])
    history = [("user", task.opening or "I need some help")]
    candidate = "Could you tell me which one you mean?" if kind == "ambiguity" else "Sure."
    result = multiturn_aware_reward(
        history,
        candidate,
        task=task,
        user=make_user(stop_after=2),
        assistant=make_assistant(),
        judge=judge,
        samples=2,
        window=1,
    )
    assert result.n_failed == 0, [s.error for s in result.samples]
    metrics = task_kind(kind).metrics
    assert set(result.components) == {*metrics, "tokens", "token_penalty"}
    assert result.components[metrics[0]] == (
        float(task.metadata["ambiguous"]) if kind == "ambiguity" else 1.0
    )
    lam = task_kind(kind).token_lambda
    assert result.components["token_penalty"] == pytest.approx(-lam * result.components["tokens"])


def test_bigcodebench_rows_as_published_load_and_their_canonical_solutions_score_one():
    path = Path(__file__).parent / "data" / "bigcodebench_rows.jsonl"
    tasks = load_tasks(path)
    assert len(tasks) >= 4 and all(t.kind == "code" for t in tasks)
    for task in tasks:
        assert task.metadata["entry_point"] == "task_func" and task.request.strip()
        assert run_hidden_tests(task.reference, task.metadata["test"]) == 1.0, task.id
