"""The training CLI's configuration: YAML and flags fill one dataclass, flags win."""

from __future__ import annotations

import subprocess
import sys

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
    assert "--learning-rate FLOAT" in out and "--learning_rate" not in out  # one spelling shown
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
    from pathlib import Path

    from langgraph_collab.train.config import config_from_yaml

    configs = sorted((Path(__file__).resolve().parents[1] / "examples" / "configs").glob("*.yaml"))
    assert len(configs) >= 5
    methods = {config_from_yaml(path).validate().method for path in configs}
    kinds = {config_from_yaml(path).tasks for path in configs}
    assert methods == {"sft", "dpo", "grpo", "online_dpo"}
    assert {"math", "code", "document", "ambiguity"} <= kinds
