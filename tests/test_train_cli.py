"""The training CLI on TRL's parser: what the parser reads, and a package without import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from langgraph_collab.train.config import CollabTrainConfig, ConfigError, load_config

TRAIN = Path(__file__).resolve().parents[1] / "langgraph_collab" / "train"


def train_imports() -> dict[str, set[str]]:
    """``{module: train modules it imports}``, every import statement of the file counted
    (inside functions and ``TYPE_CHECKING`` blocks too)."""
    modules = {path.stem for path in TRAIN.glob("*.py")} - {"__init__"}
    graph = {}
    for name in modules:
        found = set()
        for node in ast.walk(ast.parse((TRAIN / f"{name}.py").read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            found |= {
                n.rsplit(".", 1)[-1] for n in names if n.startswith("langgraph_collab.train.")
            }
        graph[name] = (found & modules) - {name}
    return graph


def test_the_train_modules_import_each_other_without_a_cycle():
    graph, done, path = train_imports(), set(), []

    def visit(name: str) -> None:
        assert name not in path, f"import cycle: {' -> '.join([*path, name])}"
        if name in done:
            return
        path.append(name)
        for other in sorted(graph[name]):
            visit(other)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)
    assert graph["checks"] == set() and graph["cli"] == {"checks"}


@pytest.mark.parametrize("argv", [["--eval-limit=none"], ["--eval_limit", "NULL"]])
def test_none_in_either_spelling(argv):
    assert load_config(argv).eval_limit is None


@pytest.mark.parametrize(
    ("argv", "value"),
    [
        (["--bf16"], True),
        (["--bf16", "false"], False),
        (["--no-bf16"], False),
        (["--bf16", "none"], None),
    ],
)
def test_an_optional_boolean(argv, value):
    assert load_config(argv).bf16 is value


def test_a_role_option_given_none_is_kept_as_none():
    config = load_config(["--judge", "openai:j", "--timeout", "30", "--judge-timeout", "none"])
    assert config.timeout == 30.0 and config.roles == {"judge": {"timeout": None}}


def test_a_flag_overrides_its_key_in_the_file_and_the_rest_of_the_file_stays(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("checkpoint_samples: true\nsamples: 3\nloss_type: ipo\n")
    config = load_config(["--config", str(path), "--no-checkpoint-samples", "--loss-type", "sft"])
    assert (config.checkpoint_samples, config.samples) == (False, 3)
    assert config.trl == {"loss_type": ["sft"]}


def test_trl_lists_and_choices_from_flags():
    config = load_config(["--loss-type", "sigmoid", "sft", "--lr-scheduler-type", "cosine"])
    assert config.trl == {"loss_type": ["sigmoid", "sft"], "lr_scheduler_type": "cosine"}


def test_a_trl_scalar_that_fits_as_it_is_stays_so(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("report_to: tensorboard\nwarmup_steps: 5\n")
    assert load_config(["--config", str(path)]).trl == {
        "report_to": "tensorboard",
        "warmup_steps": 5,
    }


def test_a_bool_is_not_read_as_a_number(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("seed: true\n")
    with pytest.raises(ConfigError, match="config key 'seed': expected int, got bool True"):
        load_config(["--config", str(path)], exit_on_error=False)


def test_the_saved_file_loads_back_with_flags_on_top(tmp_path):
    CollabTrainConfig(name="saved", method="sft", trl={"weight_decay": 0.1}).to_yaml(
        tmp_path / "c.yaml"
    )
    config = load_config(["--config", str(tmp_path / "c.yaml"), "--weight-decay", "0.2"])
    assert (config.name, config.method, config.trl) == ("saved", "sft", {"weight_decay": 0.2})
