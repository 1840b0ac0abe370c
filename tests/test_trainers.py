"""The trainer node: each TRL method trains two steps on a tiny model offline, from the
exported datasets unchanged; LoRA and full fine-tuning; resume; the MR reward function."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from langgraph_collab.collection.export import dpo_dataset, prompt_dataset, sft_dataset
from langgraph_collab.collection.records import CandidateRecord, ConversationRecord, TurnRecord
from langgraph_collab.state import Task
from langgraph_collab.testing import ScriptedChatModel
from langgraph_collab.train.config import CollabTrainConfig
from langgraph_collab.train.rewards import MRReward, mr_reward_function, task_from_columns
from langgraph_collab.train.trainers import check_dataset, last_checkpoint, train_policy
from tests.conftest import judge_json, make_user

# ------------------------------------------------------------------------------ data


def record(task_id: str) -> ConversationRecord:
    """Two scored turns with a clear MR gap: one DPO pair and one prompt row per turn."""
    task = Task(id=task_id, kind="math", request="What is 2 + 2?", reference="4")
    messages = [{"role": "user", "content": "I have a sum to do"}]
    turns = []
    for turn in range(2):
        candidates = [
            CandidateRecord(content=f"Which sum? ({task_id}, {turn})", mr=0.9),
            CandidateRecord(content=f"It is 5. ({task_id}, {turn})", mr=0.1),
        ]
        turns.append(TurnRecord(turn=turn, prompt=list(messages), candidates=candidates, chosen=0))
        messages += [
            {"role": "assistant", "content": candidates[0].content},
            {"role": "user", "content": f"2 + 2, turn {turn}"},
        ]
    messages.append({"role": "assistant", "content": "It is 4."})
    return ConversationRecord(task=task, messages=messages, turns=turns)


RECORDS = [record(f"m{i}") for i in range(3)]


def config(**overrides) -> CollabTrainConfig:
    values = {
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "max_length": 128,
        "max_completion_length": 8,
        "max_tokens": 8,
        "save_steps": 100,
        "samples": 1,
        "window": 1,
        "learning_rate": 1e-3,
    }
    return CollabTrainConfig(**{**values, **overrides})


def fake_roles() -> dict[str, ScriptedChatModel]:
    return {
        "user": make_user(stop_after=1),
        "judge": ScriptedChatModel(script=[judge_json(grade="A", correct=True)]),
        "future_assistant": ScriptedChatModel(script=["The answer is 4."]),
    }


# ------------------------------------------------------------------------------ no model


def test_task_from_columns_rebuilds_the_exported_task():
    rows = prompt_dataset(RECORDS).to_dict()
    task = task_from_columns(rows, 2)
    assert task == RECORDS[1].task
    with pytest.raises(ValueError, match="task columns"):
        task_from_columns({"prompt": rows["prompt"]}, 0)


def test_check_dataset_names_missing_columns_and_empty_data():
    check_dataset("dpo", dpo_dataset(RECORDS))
    check_dataset("sft", sft_dataset(RECORDS))
    with pytest.raises(ValueError, match="prompt/chosen/rejected"):
        check_dataset("dpo", sft_dataset(RECORDS))
    with pytest.raises(ValueError, match="empty"):
        check_dataset("grpo", prompt_dataset([]))


def test_last_checkpoint_skips_incomplete_ones(tmp_path):
    assert last_checkpoint(tmp_path / "missing") is None
    for step in (2, 10):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-12").mkdir()  # killed while saving: no trainer_state.json
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")


def test_mr_reward_scores_each_completion_with_fake_roles():
    rows = prompt_dataset(RECORDS).to_dict()
    prompts = [rows["prompt"][0]] * 2 + [rows["prompt"][3]] * 2
    columns = {name: [values[0]] * 2 + [values[3]] * 2 for name, values in rows.items()}
    del columns["prompt"]
    completions = [[{"role": "assistant", "content": t}] for t in ("Which?", "4", "Hm", "Hm")]
    reward = mr_reward_function(**fake_roles(), samples=2, window=1)
    assert reward.__name__ == "multiturn_aware_reward"
    values = reward(prompts=prompts, completions=completions, trainer_state=None, **columns)
    assert len(values) == 4 and all(isinstance(v, float) and math.isfinite(v) for v in values)
    assert values[2] == values[3]  # the same text for the same prompt is scored once


def test_mr_reward_failure_is_neutral_with_a_warning():
    def broken(messages):
        raise ConnectionError("judge down")  # transient, outlives the retries: MR fails

    roles = {**fake_roles(), "judge": ScriptedChatModel(script=broken)}
    reward = mr_reward_function(**roles, samples=1, window=1, neutral=0.25)
    rows = prompt_dataset(RECORDS).to_dict()
    columns = {k: v[:2] for k, v in rows.items() if k != "prompt"}
    with pytest.warns(RuntimeWarning, match="MR failed"):
        values = reward(prompts=rows["prompt"][:2], completions=["a", "b"], **columns)
    assert values == [0.25, 0.25]


def test_policy_future_assistant_must_be_bound():
    reward = mr_reward_function(user=make_user(), judge=make_user(), future_assistant="policy")
    assert isinstance(reward, MRReward) and reward.needs_policy
    with pytest.raises(RuntimeError, match="bind_policy"):
        reward(prompts=["hi"], completions=["hello"], request=["x"])


def test_our_trl_defaults_name_fields_of_the_installed_trl():
    from langgraph_collab.train.cli import field_types
    from langgraph_collab.train.config import METHODS, trl_section
    from langgraph_collab.train.trl_args import RENAMED, trl_config_class

    names = set().union(*(field_types(trl_config_class(m)) for m in METHODS))
    missing = [n for n in trl_section() if n not in names and RENAMED.get(n) not in names]
    assert not missing, f"renamed or removed by this TRL: {missing}"


@pytest.mark.parametrize("method", ["sft", "dpo", "grpo", "online_dpo"])
def test_each_method_gets_its_trl_config_with_our_defaults_and_the_users(tmp_path, method):
    from langgraph_collab.train.trl_args import trainer_args

    user = {"lr_scheduler_type": "cosine", "weight_decay": 0.1, "report_to": "tensorboard"}
    args = trainer_args(config(method=method, trl=user), output_dir=tmp_path)
    assert (args.lr_scheduler_type.value, args.weight_decay, args.report_to) == (
        "cosine", 0.1, ["tensorboard"],
    )  # fmt: skip
    assert (args.max_steps, args.learning_rate, args.per_device_train_batch_size) == (2, 1e-3, 2)
    assert args.save_strategy.value == "steps" and args.dataloader_num_workers == 0


def test_a_misspelt_trl_name_in_the_python_api_fails_before_training(tmp_path):
    from langgraph_collab.train.config import ConfigError
    from langgraph_collab.train.trl_args import trainer_args

    with pytest.raises(ConfigError, match="unknown key 'num_iteration'; did you mean"):
        trainer_args(config(method="grpo", trl={"num_iteration": 2}), output_dir=tmp_path)


def test_online_methods_need_reward_funcs(tmp_path):
    with pytest.raises(ValueError, match="reward_funcs"):
        train_policy(
            config(method="grpo"),
            train_dataset=prompt_dataset(RECORDS),
            output_dir=tmp_path,
            model=object(),
            tokenizer=object(),
        )


# ------------------------------------------------------------------------------ tiny model


def assert_trained(result, output_dir: Path, steps: int = 2) -> None:
    assert result.global_step == steps
    losses = [log["loss"] for log in result.log_history if "loss" in log]
    assert losses and all(math.isfinite(loss) for loss in losses)
    assert result.tokens > 0 and result.tokens_per_s > 0
    assert (Path(result.model_path) / "tokenizer_config.json").is_file()
    saved = json.loads((output_dir / "train_result.json").read_text())
    assert saved["global_step"] == steps


@pytest.mark.integration
@pytest.mark.parametrize(
    ("method", "lora"), [("sft", True), ("dpo", True), ("dpo", False), ("sft", False)]
)
def test_offline_methods_train_on_exported_data(policy_dir, tmp_path, method, lora):
    dataset = {"sft": sft_dataset, "dpo": dpo_dataset}[method](RECORDS)
    result = train_policy(
        config(method=method, lora=lora, policy=str(policy_dir)),
        train_dataset=dataset,
        output_dir=tmp_path,
    )
    assert_trained(result, tmp_path)
    adapter = (Path(result.model_path) / "adapter_config.json").is_file()
    assert adapter == lora  # LoRA saves an adapter, full fine-tuning a whole model


@pytest.mark.integration
@pytest.mark.parametrize("method", ["grpo", "online_dpo"])
def test_online_methods_train_with_the_mr_reward(policy_dir, tmp_path, method):
    roles = fake_roles()
    del roles["future_assistant"]  # the policy plays the future assistant turns
    reward = mr_reward_function(**roles, future_assistant="policy", samples=1, window=1)
    result = train_policy(
        config(method=method, policy=str(policy_dir)),
        train_dataset=prompt_dataset(RECORDS),
        output_dir=tmp_path,
        reward_funcs=[reward],
    )
    assert_trained(result, tmp_path)
    assert reward.calls > 0 and reward.failures == 0
    assert roles["judge"].calls > 0  # MR ran forward samples and judged them


@pytest.mark.integration
def test_a_rerun_resumes_from_the_last_checkpoint(policy_dir, tmp_path):
    dataset = dpo_dataset(RECORDS)
    first = train_policy(
        config(policy=str(policy_dir), save_steps=1), train_dataset=dataset, output_dir=tmp_path
    )
    assert first.global_step == 2 and first.resumed_from is None
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    again = train_policy(
        config(policy=str(policy_dir), save_steps=1, max_steps=3),
        train_dataset=dataset,
        output_dir=tmp_path,
    )
    assert again.resumed_from == str(tmp_path / "checkpoint-2")
    assert again.global_step == 3
    steps = [log["step"] for log in again.log_history if "loss" in log]
    assert steps == [1, 2, 3]  # the history continues the first run's
    shutil.rmtree(again.model_path)  # killed after the last checkpoint, before the export
    done = train_policy(
        config(policy=str(policy_dir), save_steps=1, max_steps=3),
        train_dataset=dataset,
        output_dir=tmp_path,
    )
    assert (done.global_step, done.tokens) == (3, 0)  # no extra step, only the export
    assert (Path(done.model_path) / "adapter_config.json").is_file()
    assert not (Path(done.model_path) / "optimizer.pt").exists()
