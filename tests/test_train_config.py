"""The training CLI's configuration: YAML and flags fill one dataclass, flags win."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from langgraph_collab.train.config import (
    CollabTrainConfig,
    ConfigError,
    config_from_yaml,
    load_config,
)

YAML = """
# a TRL-style flat file
name: yaml-run
method: sft
learning_rate: 2e-5          # YAML 1.1 reads this as a string: accepted for a float
lora: false
stages: [export, train]      # a list is accepted for comma-separated options
min_score: null
max-steps: 20                # dashes work like underscores
"""


@pytest.fixture
def yaml_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(YAML)
    return path


def test_no_arguments_give_the_validated_demo_defaults():
    config = load_config([])
    assert config == CollabTrainConfig()
    assert (config.method, config.lora, config.max_steps, config.policy) == (
        "dpo",
        True,
        6,
        "local",
    )
    assert config.stage_list == ["collect", "export", "train", "evaluate", "report"]
    assert config.compare_list == ["base", "proactive", "trained"]
    assert config.run_dir.as_posix() == "runs/demo"
    assert config.target_modules == "all-linear"


def test_yaml_fills_the_config(yaml_file):
    config = load_config(["--config", str(yaml_file)])
    assert config.name == "yaml-run" and config.method == "sft"
    assert config.learning_rate == 2e-5 and config.lora is False
    assert config.stages == "export,train" and config.max_steps == 20
    assert config.min_score is None
    assert config.seed == 0  # untouched keys keep their defaults
    assert config_from_yaml(yaml_file) == config


def test_flags_win_over_yaml_and_both_spellings_work(yaml_file):
    flags = ["--max-steps", "none", "--lora", "--lora-target-modules", "q_proj,v_proj"]
    config = load_config(
        ["--config", str(yaml_file), "--method", "grpo", "--learning_rate", "3e-4", *flags]
    )
    assert config.method == "grpo" and config.learning_rate == 3e-4
    assert config.max_steps is None and config.lora is True
    assert config.target_modules == ["q_proj", "v_proj"]
    assert config.name == "yaml-run"  # from the file
    assert load_config(["--learning-rate", "1e-5"]).learning_rate == 1e-5


@pytest.mark.parametrize(
    ("argv", "value"),
    [(["--no-lora"], False), (["--lora", "false"], False), (["--lora"], True), ([], True)],
)
def test_boolean_flags(argv, value):
    assert load_config(argv).lora is value


def test_optional_values_take_none():
    config = load_config(["--min-score", "0.3", "--eval-limit", "none", "--bf16", "none"])
    assert (config.min_score, config.eval_limit, config.bf16) == (0.3, None, None)
    assert load_config(["--base-url", "http://localhost:8000/v1"]).base_url.endswith("/v1")


def test_help_lists_every_option_by_section_with_defaults(capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_config(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for section in ("run:", "models:", "tasks:", "collection:", "export:", "training:"):
        assert section in out
    assert "--learning-rate LEARNING_RATE" in out  # TRL's parser shows both spellings
    assert "(default: 0.0001)" in out and "--config PATH" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "sgd"], "method='sgd': unknown method; use one of sft, dpo, grpo"),
        (["--method", "dop"], r"unknown method; use one of .*online_dpo \(did you mean 'dpo'\?\)"),
        (["--stages", "collect,deploy"], r"stages='collect,deploy': unknown \['deploy'\]"),
        (["--compare", "base,gpt5"], r"compare='base,gpt5': unknown \['gpt5'\]; choose among"),
        (["--proactive-share", "1.5"], r"proactive_share=1.5: must be in \[0, 1\]"),
        (["--min-gap", "-0.1"], "min_gap=-0.1: must be >= 0"),
        (["--learning-rate", "0"], "learning_rate=0.0: must be positive"),
        (["--max-steps", "0"], "max_steps=0: must be at least 1, or none"),
        (["--samples", "-2"], "samples=-2: must be at least 1"),
        (["--lora-dropout", "1"], r"lora_dropout=1.0: must be in \[0, 1\)"),
        (["--num-generations", "1"], "num_generations=1: GRPO needs >= 2"),
        (["--name", "a/b"], "name='a/b': use a plain folder name"),
        (["--candidates", "1"], "candidates=1: DPO pairs need >= 2"),
        (["--base-url", "localhost:8000"], "base_url='localhost:8000': give a URL"),
    ],
)
def test_bad_values_are_rejected_with_what_to_do(argv, message):
    with pytest.raises(ConfigError, match=message):
        load_config(argv, exit_on_error=False)


def test_every_problem_is_listed_at_once():
    with pytest.raises(ConfigError) as error:
        CollabTrainConfig(method="x", seed=-1, window=-1).validate()
    assert all(name in str(error.value) for name in ("method=", "seed=", "window="))


def test_the_cli_exits_with_the_message(capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_config(["--proactive-share", "2"])
    assert exit_info.value.code == 2
    assert "proactive_share=2.0: must be in [0, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        load_config(["--learning-rate", "fast"])
    assert "invalid float value: 'fast'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        load_config(["--no-such-flag", "1"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("learnig_rate: 0.1\n", "unknown key 'learnig_rate'; did you mean 'learning_rate'"),
        ("max_steps: lots\n", "config key 'max_steps': expected int or none, got str 'lots'"),
        ("lora: 3\n", "config key 'lora': expected bool, got int 3"),
        ("seed: 1.5\n", "config key 'seed': expected int"),
        ("method: null\n", "config key 'method': must not be empty"),
        ("- a\n- b\n", "expected a mapping"),
        ("name: [unclosed\n", "not valid YAML"),
        ("method: ppo\n", "method='ppo': unknown method"),
    ],
)
def test_bad_yaml_is_a_clear_error_naming_the_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(["--config", str(path)], exit_on_error=False)


def test_missing_and_empty_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config_from_yaml(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match=r"empty\.yaml: the file is empty"):
        config_from_yaml(tmp_path / "empty.yaml")


def test_to_yaml_round_trips(tmp_path):
    config = CollabTrainConfig(
        name="rt", method="online_dpo", learning_rate=5e-6, lora=False, min_score=0.25,
        max_steps=None, stages="train,evaluate", base_url="http://h:8000/v1", bf16=True,
    )  # fmt: skip
    text = config.to_yaml(tmp_path / "config.yaml")
    assert "# training" in text and "learning_rate: 5.0e-06" in text
    assert config_from_yaml(tmp_path / "config.yaml") == config
    assert config_from_yaml(tmp_path / "config.yaml").to_yaml() == text
    assert load_config(["--config", str(tmp_path / "config.yaml")]) == config


def test_importing_the_config_imports_no_torch():
    code = "import sys, langgraph_collab.train.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_example_config_loads_and_validates():
    configs = sorted((Path(__file__).resolve().parents[1] / "examples" / "configs").glob("*.yaml"))
    assert len(configs) >= 5
    methods = {config_from_yaml(path).validate().method for path in configs}
    kinds = {config_from_yaml(path).tasks for path in configs}
    assert methods == {"sft", "dpo", "grpo", "online_dpo"}
    assert {"math", "code", "document", "ambiguity"} <= kinds


# ------------------------------------------------------------------ TRL options and roles

TRL_YAML = """
method: dpo
lr_scheduler_type: cosine
warmup_steps: 0.1            # transformers 5 folded warmup_ratio into warmup_steps
beta: 0.2
loss_type: ipo               # one item for a list field, as TRL's CLI reads it
weight_decay: 0.01
per_device_train_batch_size: 4
judge_method: function_calling
judge_max_tokens: 512
"""


def test_trl_options_in_yaml_reach_the_built_dpo_config(tmp_path):
    from langgraph_collab.train.trl_args import trainer_args

    path = tmp_path / "run.yaml"
    path.write_text(TRL_YAML)
    config = load_config(["--config", str(path), "--max-grad-norm", "0.5"])
    assert config.trl == {"lr_scheduler_type": "cosine", "warmup_steps": 0.1, "loss_type": ["ipo"],
                          "weight_decay": 0.01, "max_grad_norm": 0.5}  # fmt: skip
    args = trainer_args(config, output_dir=tmp_path / "train")
    assert type(args).__name__ == "DPOConfig"
    assert args.lr_scheduler_type.value == "cosine" and args.warmup_steps == 0.1
    assert args.beta == 0.2 and args.loss_type == ["ipo"] and args.weight_decay == 0.01
    assert args.max_grad_norm == 0.5 and args.per_device_train_batch_size == 4  # user wins
    assert args.learning_rate == 1e-4 and args.max_steps == 6  # ours win over TRL's
    assert args.report_to == [] and args.output_dir == str(tmp_path / "train")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("warmup_ratio: 0.1\n", "unknown key 'warmup_ratio'; did you mean 'warmup_steps'?"),
        ("lr_sheduler_type: cosine\n", "did you mean 'lr_scheduler_type'?"),
        ("lr_scheduler_type: cosin\n", "expected one of ['linear', 'cosine'"),
        ("num_iterations: 2\n", "not a pipeline option nor a field of DPOConfig for method dpo"),
        ("weight_decay: heavy\n", "TRL option 'weight_decay' (DPOConfig): expected float"),
        (["--lr-sheduler-type", "cosine"], "did you mean '--lr-scheduler-type'?"),
        (["--method", "grpo", "--num-iteration", "2"], "did you mean '--num-iterations'?"),
        (["--lr-scheduler-type", "cosin"], "invalid choice: 'cosin'"),
    ],
)
def test_a_misspelt_trl_field_fails_with_did_you_mean(tmp_path, source, message):
    argv = source
    if isinstance(source, str):
        (tmp_path / "run.yaml").write_text(source)
        argv = ["--config", str(tmp_path / "run.yaml")]
    with pytest.raises(ConfigError) as error:
        load_config(argv, exit_on_error=False)
    assert message in str(error.value)


def test_grpo_options_from_flags():
    config = load_config(["--method", "grpo", "--num-iterations", "2", "--vllm-mode", "server"])
    assert config.trl == {"num_iterations": 2, "vllm_mode": "server"}


def test_help_shows_the_pipeline_and_the_trl_options_as_two_groups(capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_config(["--method", "grpo", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "pipeline: training:" in out and "pipeline: roles:" in out
    assert "TRL: GRPOConfig (--method grpo" in out
    trl_part = out.split("TRL: GRPOConfig")[1]
    for flag in ("--num-iterations", "--loss-type", "--vllm-mode", "--lr-scheduler-type",
                 "--report-to", "--learning-rate"):  # fmt: skip
        assert flag in trl_part
    assert "(default: 0.0001) [ours]" in trl_part and "--judge-method" in out


def test_trl_options_and_roles_survive_the_saved_config(tmp_path):
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    config = CollabTrainConfig(
        trl={"lr_scheduler_type": "cosine", "loss_type": ["ipo", "sft"]},
        roles={"judge": {"method": "json_mode", "extra_body": {"top_k": 20}}},
        judge="openai:judge-model",
    )
    config.to_yaml(tmp_path / "c.yaml")
    assert config_from_yaml(tmp_path / "c.yaml") == config
    settings = config.to_dict()  # what the pipeline checkpoints and compares on resume
    serde = JsonPlusSerializer()
    again = serde.loads_typed(serde.dumps_typed(settings))
    assert again == settings and CollabTrainConfig(**again) == config


def test_role_options_from_yaml_and_flags(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("judge_method: text\njudge_max_tokens: 512\nuser_timeout: 30\n"
                    "user: openai:u\njudge: openai:j\n")  # fmt: skip
    config = load_config(
        ["--config", str(path), "--judge-method", "function_calling",
         "--judge-extra-body", '{"top_k": 20}', "--assistant-max-tokens", "64"]
    )  # fmt: skip
    assert config.roles == {
        "judge": {"method": "function_calling", "max_tokens": 512, "extra_body": {"top_k": 20}},
        "user": {"timeout": 30.0},
        "assistant": {"max_tokens": 64},
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--judge-methd", "text"], "did you mean '--judge-method'?"),
        (["--judge-method", "json"], "invalid choice: 'json'"),
        (["--judge-extra-body", "[1]"], "expected a JSON object"),
        (["--judge-timeout", "30"], "judge_timeout: judge is 'local', not an API model"),
        (["--api-key", "sk", "--api-key-env", "KEY"], "give api_key or api_key_env"),
        (["--judge-base-url", "localhost"], "give a URL"),
    ],
)
def test_bad_role_options(argv, message):
    with pytest.raises(ConfigError) as error:
        load_config(argv, exit_on_error=False)
    assert message in str(error.value)


def test_importing_and_loading_pipeline_options_imports_no_trl():
    code = (
        "import sys; from langgraph_collab.train.config import load_config; "
        "load_config(['--method', 'sft', '--judge-method', 'text', '--learning-rate', '1e-5']); "
        "print('trl' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_role_models_get_their_options_and_the_judge_its_method(monkeypatch):
    from langgraph_collab.train import roles

    monkeypatch.setenv("TEST_SERVER_KEY", "sk-from-env")
    calls = []
    monkeypatch.setattr(
        "langgraph_collab.roles.judge.create_judge", lambda model, **kw: calls.append(kw) or model
    )
    config = CollabTrainConfig(
        user="openai:m", judge="openai:m", assistant="openai:m",
        base_url="http://127.0.0.1:8080/v1", api_key_env="TEST_SERVER_KEY", timeout=30.0,
        roles={"judge": {"method": "function_calling", "max_tokens": 512,
                         "extra_body": {"top_k": 20}}},
    ).validate()  # fmt: skip
    models = roles.role_models(config, ["user", "judge", "assistant"])
    assert models["user"] is models["assistant"]  # same spec and options: one instance
    judge = models["judge"]
    assert calls == [{"method": "function_calling"}]
    assert (judge.max_tokens, judge.request_timeout) == (512, 30.0)
    assert judge.extra_body["top_k"] == 20 and judge.openai_api_key.get_secret_value() == (
        "sk-from-env"
    )
    assert models["user"].max_tokens == 128 and models["user"].openai_api_base.endswith("/v1")


def test_an_unset_api_key_env_names_the_variable(monkeypatch):
    from langgraph_collab.train.roles import model_options

    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    config = CollabTrainConfig(
        judge="openai:m", roles={"judge": {"api_key_env": "NO_SUCH_KEY_VAR"}}
    )
    with pytest.raises(
        ValueError, match="'NO_SUCH_KEY_VAR' names an environment variable that is not set"
    ):
        model_options("judge", config)
    literal = CollabTrainConfig(judge="openai:m", api_key_env="NO_SUCH_KEY_VAR",
                                roles={"judge": {"api_key": "sk-x"}})  # fmt: skip
    assert model_options("judge", literal)["api_key"] == "sk-x"  # the role's key replaces it
