"""Export: records -> TRL datasets and CollabLLM rows; each dataset trains its TRL trainer."""

from __future__ import annotations

import json
import math
import sys

import pytest

from langgraph_collab import Task
from langgraph_collab.collection.export import (
    collabllm_rows,
    dpo_dataset,
    export_datasets,
    prompt_dataset,
    records_from_collabllm,
    sft_dataset,
)
from langgraph_collab.collection.records import (
    CandidateRecord,
    ConversationRecord,
    SampleRecord,
    TurnRecord,
    read_records,
    write_records,
)
from tests.conftest import tiny_model

# ------------------------------------------------------------------------------ records


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def candidate(text: str, mr: float | None, *, n: int = 2) -> CandidateRecord:
    samples = [
        SampleRecord(
            future=[user(f"follow-up {i}"), assistant(f"answer {i}")],
            components={"accuracy": 1.0, "token_penalty": -0.01 * (i + 1)},
            reward=0.99 - 0.01 * i,
        )
        for i in range(n)
    ]
    samples.append(SampleRecord(error="judge failed"))
    return CandidateRecord(content=text, mr=mr, samples=samples, n_failed=1)


def make_record(
    task_id: str = "m1",
    *,
    scores: tuple[tuple[float | None, ...], ...] = ((0.9, 0.2), (0.6, 0.58)),
    failure: str | None = None,
    kind: str = "math",
) -> ConversationRecord:
    """A conversation with one turn per entry of ``scores``; candidate 0 is chosen."""
    task = Task(
        id=task_id,
        kind=kind,
        request="What is 2 + 2?",
        reference="4",
        metadata={"level": 5},
    )
    messages = [user("I have a sum to do")]
    turns = []
    for index, turn_scores in enumerate(scores):
        candidates = [
            candidate(f"{task_id} turn {index} reply {c}", mr) for c, mr in enumerate(turn_scores)
        ]
        turns.append(TurnRecord(turn=index, prompt=list(messages), candidates=candidates, chosen=0))
        messages += [assistant(candidates[0].content), user(f"user message {index + 1}")]
    return ConversationRecord(task=task, messages=messages, turns=turns, failure=failure)


@pytest.fixture
def records() -> list[ConversationRecord]:
    return [
        make_record("m1"),
        make_record("m2", scores=((0.1, 0.4, 0.3),)),
        make_record("bad", failure="user: kept failing"),
    ]


# ------------------------------------------------------------------------------ formats


def test_sft_rows_are_the_chosen_paths_ending_with_an_assistant(records):
    dataset = sft_dataset(records)
    assert dataset.column_names == ["messages", "task_id", "kind", "score"]
    assert dataset["task_id"] == ["m1", "m2"]  # the failed record is skipped
    first = dataset[0]
    assert first["messages"][-1] == assistant("m1 turn 1 reply 0")
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"] * 2
    assert first["kind"] == "math"
    assert first["score"] == pytest.approx((0.9 + 0.6) / 2)


def test_sft_filters_by_min_score_and_skips_short_or_unscored_records():
    short = ConversationRecord(task=Task(request="x"), messages=[user("hi")])
    unscored = make_record("u", scores=((None, None),))
    low = make_record("low", scores=((0.2, 0.1),))
    high = make_record("high", scores=((0.8, 0.1),))
    assert sft_dataset([short, unscored, low, high])["task_id"] == ["u", "low", "high"]
    assert sft_dataset([short, unscored, low, high], min_score=0.5)["task_id"] == ["high"]
    assert sft_dataset([unscored])["score"] == [None]


def test_dpo_pairs_best_and_worst_per_turn_above_the_gap(records):
    dataset = dpo_dataset(records)
    assert dataset.column_names == [
        "prompt",
        "chosen",
        "rejected",
        "chosen_score",
        "rejected_score",
        "task_id",
        "turn",
    ]
    # m1: turn 0 (gap 0.7) kept, turn 1 (gap 0.02) dropped; m2: 0.4 vs 0.1; bad: turn 0 kept
    pairs = list(zip(dataset["task_id"], dataset["turn"], strict=True))
    assert pairs == [("m1", 0), ("m2", 0), ("bad", 0)]
    row = dataset[1]
    assert row["prompt"] == [user("I have a sum to do")]
    assert row["chosen"] == [assistant("m2 turn 0 reply 1")]
    assert row["rejected"] == [assistant("m2 turn 0 reply 0")]
    assert (row["chosen_score"], row["rejected_score"]) == pytest.approx((0.4, 0.1))
    assert len(dpo_dataset(records, min_gap=0.01)) == 5
    assert len(dpo_dataset(records, min_gap=0.8)) == 0


def test_dpo_keeps_a_gap_of_exactly_min_gap_and_needs_two_scored_candidates():
    exact = make_record("exact", scores=((0.55, 0.5),))
    lonely = make_record("lonely", scores=((0.9, None),))
    same = make_record("same", scores=((0.9, 0.1),))
    same.turns[0].candidates[1].content = same.turns[0].candidates[0].content
    assert dpo_dataset([exact, lonely, same], min_gap=0.05)["task_id"] == ["exact"]


def test_prompts_from_records_and_tasks_carry_the_task_columns(records):
    task = Task(id="t9", kind="code", request="Write f.", opening="hey, code please")
    plain = Task(id="t10", request="Summarise this.", metadata={"tests": ["a"]})
    dataset = prompt_dataset(records, tasks=[task, plain])
    assert dataset.column_names == [
        "prompt",
        "task_id",
        "kind",
        "request",
        "reference",
        "metadata",
        "description",
        "opening",
    ]
    assert dataset["task_id"] == ["m1", "m1", "m2", "bad", "bad", "t9", "t10"]
    assert dataset[1]["prompt"][-1] == user("user message 1")
    assert dataset[5]["prompt"] == [user("hey, code please")]
    assert dataset[6]["prompt"] == [user("Summarise this.")]
    assert (dataset[6]["reference"], dataset[6]["opening"]) == ("", "")
    assert json.loads(dataset[6]["metadata"]) == {"tests": ["a"]}
    assert json.loads(dataset[0]["metadata"]) == {"level": 5}
    assert len(prompt_dataset(tasks=[task])) == 1
    with pytest.raises(ValueError, match="records"):
        prompt_dataset()


def test_empty_inputs_give_empty_datasets_with_columns(tmp_path):
    from datasets import load_from_disk

    assert sft_dataset([]).column_names == ["messages", "task_id", "kind", "score"]
    assert len(dpo_dataset([])) == 0 and "chosen" in dpo_dataset([]).column_names
    assert prompt_dataset([]).num_rows == 0 and prompt_dataset(tasks=[]).num_rows == 0
    built = export_datasets([], tmp_path / "out")
    for name, dataset in built.items():
        assert len(dataset) == 0
        again = load_from_disk(str(tmp_path / "out" / name))
        assert again.column_names == dataset.column_names and len(again) == 0
        assert (tmp_path / "out" / f"{name}.jsonl").read_text() == ""


def test_export_datasets_saves_each_dataset_both_ways(records, tmp_path):
    from datasets import load_from_disk

    built = export_datasets(records, tmp_path, min_gap=0.01, min_score=0.5)
    assert sorted(built) == ["dpo", "prompts", "sft"]
    assert [len(built[n]) for n in ("sft", "dpo", "prompts")] == [1, 5, 5]
    for name, dataset in built.items():
        assert load_from_disk(str(tmp_path / name))[:] == dataset[:]
        lines = (tmp_path / f"{name}.jsonl").read_text().splitlines()
        assert [json.loads(line) for line in lines] == dataset.to_list()


def test_exporting_does_not_import_datasets_until_needed():
    code = "import sys, langgraph_collab.collection.export; print('datasets' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------ records on disk


def test_write_then_read_records_appends(records, tmp_path):
    path = tmp_path / "sub" / "records.jsonl"
    write_records(records[:2], path)
    write_records(records[2:], path)
    assert read_records(path) == records
    assert len(path.read_text().splitlines()) == 3


def test_concurrent_writers_never_interleave_lines(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "records.jsonl"
    batches = [[make_record(f"w{w}-{i}") for i in range(10)] for w in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda batch: write_records(batch, path), batches))
    ids = sorted(r.task.id for r in read_records(path))
    assert ids == sorted(r.task.id for batch in batches for r in batch)


def test_read_records_skips_blank_lines_and_names_a_malformed_line(records, tmp_path):
    path = tmp_path / "records.jsonl"
    write_records(records[:1], path)
    with open(path, "a") as file:
        file.write("\n   \n")
    assert read_records(path) == records[:1]
    with open(path, "a") as file:
        file.write('{"task": {"request": "x"}}\n')  # no messages
    with pytest.raises(ValueError, match=r"records\.jsonl: line 4"):
        read_records(path)
    path.write_text("not json\n")
    with pytest.raises(ValueError, match="line 1"):
        read_records(path)


# ------------------------------------------------------------------------------ CollabLLM rows


def test_collabllm_rows_have_the_published_fields(records):
    rows = collabllm_rows(records)
    assert len(rows) == 5
    row = rows[1]
    assert set(row) == {
        "prompt",
        "completion",
        "conv_id",
        "turn_id",
        "score",
        "single_turn_prompt",
        "single_turn_completion",
        "single_turn_metadata",
        "sessions",
        "rewards",
    }
    assert (row["conv_id"], row["turn_id"], row["completion"]) == ("m1", 1, "m1 turn 1 reply 0")
    assert row["score"] == 0.6 and row["prompt"][-1] == user("user message 1")
    assert row["single_turn_prompt"] == "What is 2 + 2?" and row["single_turn_completion"] == "4"
    assert row["single_turn_metadata"] == {"level": 5, "kind": "math"}
    assert len(row["sessions"]) == 2 and len(row["sessions"][0]) == 3  # 2 candidates x 3 samples
    assert row["sessions"][0][0] == [user("follow-up 0"), assistant("answer 0")]
    assert row["rewards"][0] == {
        "accuracy": [1.0, 1.0, None],
        "token_penalty": [-0.01, -0.02, None],
    }
    json.dumps(rows)  # plain JSON


def test_collabllm_round_trip_keeps_tasks_turns_and_chosen_texts(records):
    back = records_from_collabllm(collabllm_rows(records))
    assert [r.task for r in back] == [r.task for r in records]
    for original, again in zip(records, back, strict=True):
        assert [t.turn for t in again.turns] == [t.turn for t in original.turns]
        assert [t.prompt for t in again.turns] == [t.prompt for t in original.turns]
        chosen = [t.candidates[t.chosen] for t in again.turns]
        assert [c.content for c in chosen] == [
            t.candidates[t.chosen].content for t in original.turns
        ]
        assert [c.mr for c in chosen] == [t.candidates[t.chosen].mr for t in original.turns]
        assert again.messages == original.messages[:-1]  # up to the last chosen reply
        assert again.source == "collabllm"


def test_records_from_published_rows_group_candidates_of_a_turn():
    base = {
        "conv_id": 7,
        "single_turn_prompt": "Solve x + 1 = 3.",
        "single_turn_completion": "So $x = \\boxed{2}$.",
        "single_turn_metadata": json.dumps({"level": "Level 5"}),
    }
    prompt = [user("help with an equation")]
    rows = [
        {**base, "prompt": prompt, "completion": "x is 5", "score": 0.1},
        {**base, "prompt": prompt, "completion": "Which equation?", "score": 0.7},
        {**base, "prompt": [*prompt, assistant("Which equation?"), user("x + 1 = 3")]}
        | {"completion": "x = 2", "score": 0.9, "turn_id": 3},
    ]
    (record,) = records_from_collabllm(rows, kind="math")
    assert record.task.id == "7" and record.task.kind == "math"
    assert record.task.reference == "2" and record.task.metadata["level"] == "Level 5"
    assert [t.turn for t in record.turns] == [1, 3]  # turn_id defaults to len(prompt)
    first = record.turns[0]
    assert (
        len(first.candidates) == 2 and first.candidates[first.chosen].content == "Which equation?"
    )
    assert record.messages[-1] == assistant("x = 2")
    assert len(dpo_dataset([record])) == 1


def test_records_from_collabllm_names_the_row_and_field():
    row = {"prompt": [user("hi")], "completion": "hello", "conv_id": "c", "score": 0.5}
    with pytest.raises(ValueError, match=r"row 1: missing field 'single_turn_prompt'"):
        records_from_collabllm([{**row, "single_turn_prompt": "q"}, row])
    with pytest.raises(ValueError, match=r"row 0: field 'single_turn_metadata'"):
        records_from_collabllm([{**row, "single_turn_prompt": "q", "single_turn_metadata": "{x"}])
    with pytest.raises(ValueError, match=r"row 0: field 'prompt'"):
        records_from_collabllm([{**row, "single_turn_prompt": "q", "prompt": "hi"}])
    with pytest.raises(ValueError, match=r"row 0: field 'score'"):
        records_from_collabllm([{**row, "single_turn_prompt": "q", "score": "high"}])


# ------------------------------------------------------------------------------ TRL trainers


def common_args(tmp_path) -> dict:
    return {
        "output_dir": str(tmp_path / "run"),
        "use_cpu": True,
        "bf16": False,  # TRL defaults bf16 to True
        # TRL defaults gradient_checkpointing to True, a deprecated alias in transformers 5
        "activation_checkpointing": False,
        "report_to": "none",
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "logging_steps": 1,
        "save_strategy": "no",
        "dataloader_num_workers": 0,
        "seed": 0,
    }


def assert_trained(trainer) -> None:
    assert trainer.state.global_step == 2
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert losses and all(math.isfinite(loss) for loss in losses)


@pytest.fixture
def training_records() -> list[ConversationRecord]:
    return [make_record(f"m{i}") for i in range(4)]


@pytest.mark.integration
def test_sft_dataset_trains_sft_trainer(tokenizer, training_records, tmp_path):
    from trl import SFTConfig, SFTTrainer

    dataset = sft_dataset(training_records)
    args = SFTConfig(**common_args(tmp_path), max_length=256)
    trainer = SFTTrainer(
        model=tiny_model(tokenizer), args=args, train_dataset=dataset, processing_class=tokenizer
    )
    trainer.train()
    assert_trained(trainer)


@pytest.mark.integration
def test_dpo_dataset_trains_dpo_trainer(tokenizer, training_records, tmp_path):
    import copy

    from trl import DPOConfig, DPOTrainer

    dataset = dpo_dataset(training_records)
    assert len(dataset) == 4
    model = tiny_model(tokenizer)
    args = DPOConfig(**common_args(tmp_path), max_length=256)
    trainer = DPOTrainer(
        model=model,
        ref_model=copy.deepcopy(model),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()
    assert_trained(trainer)


@pytest.mark.integration
def test_prompt_dataset_trains_grpo_trainer(tokenizer, training_records, tmp_path):
    from trl import GRPOConfig, GRPOTrainer

    dataset = prompt_dataset(training_records)
    seen: list[tuple[str, str]] = []

    def length_reward(completions, reference, task_id, **kwargs) -> list[float]:
        seen.extend(zip(task_id, reference, strict=True))
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [-abs(len(t) - len(r)) / 100 for t, r in zip(texts, reference, strict=True)]

    args = GRPOConfig(
        **common_args(tmp_path), num_generations=2, max_completion_length=8, temperature=1.0
    )
    trainer = GRPOTrainer(
        model=tiny_model(tokenizer),
        reward_funcs=length_reward,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()
    assert trainer.state.global_step == 2
    assert seen and set(seen) <= {(f"m{i}", "4") for i in range(4)}  # the task columns
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert losses and all(math.isfinite(loss) for loss in losses)
