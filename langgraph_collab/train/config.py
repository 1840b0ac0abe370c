"""The training run's configuration: one dataclass filled alike from YAML and CLI flags.

Flags win over the YAML file (``--config path.yaml``), which wins over the defaults; the
defaults are the demo that ``python -m langgraph_collab.train`` runs offline on two CPU
cores. The file is flat, as TRL's: pipeline options, per-role model options
(``<role>_<option>``, e.g. ``judge_method``) and any field of the method's TRL config
(``lr_scheduler_type``, ``loss_type``...), each checked, an unknown name an error with
did-you-mean. Each section is a dataclass of its own, so that TRL's argument parser
(:mod:`~langgraph_collab.train.cli`) lists it as one ``--help`` group.

Example:
    >>> config = load_config(["--method", "sft", "--learning-rate", "2e-5", "--no-lora"])
    >>> config.method, config.learning_rate, config.lora, config.run_dir.as_posix()
    ('sft', 2e-05, False, 'runs/demo')
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph_collab.collection.graph import COLLECTION_DEFAULTS
from langgraph_collab.reward.adaptive import AdaptiveSampling
from langgraph_collab.reward.options import RewardOptions
from langgraph_collab.train.checks import COMPARE, METHODS, STAGES, problems, split_list
from langgraph_collab.train.cli import (
    ConfigError,
    check_keys,
    parse_flags,
    read_yaml,
    sections,
    split,
)

__all__ = ["METHODS", "STAGES", "CollabTrainConfig", "ConfigError", "config_from_yaml",
           "load_config", "trl_section"]  # fmt: skip


def _option(default: Any, help: str, **argparse: Any) -> Any:
    """A field with its ``--help`` text (and argparse options: the parser passes them on)."""
    return field(default=default, metadata={"help": help, **argparse})


@dataclass
class Run:
    _argument_group_name = "pipeline: run"
    name: str = _option("demo", "Run name: outputs go to <output_dir>/<name>/.")
    output_dir: str = _option("runs", "Folder holding the run folders.")
    stages: str = _option(",".join(STAGES), f"Comma-separated stages among {', '.join(STAGES)}.")
    seed: int = _option(0, "Random seed (sampling, data order, LoRA init; TRL's seed).")


@dataclass
class Models:
    _argument_group_name = "pipeline: models"
    policy: str = _option("local", "Model to train: HF id or folder, 'local' or 'local:/x.gguf'.")
    user: str = _option("local", "Simulated user: a model spec ('provider:model', 'local').")
    judge: str = _option("local", "Judge: a model spec.")
    assistant: str = _option("local", "Collection assistant: a model spec, or 'policy'.")
    base_url: str | None = _option(None, "OpenAI-compatible server (vLLM...) for the API roles.")
    api_key_env: str | None = _option(None, "Environment variable holding the API key.")
    api_key: str | None = _option(None, "API key itself (prefer api_key_env: kept out of files).")
    max_tokens: int = _option(128, "Max new tokens per role reply.")
    timeout: float | None = _option(None, "Seconds before an API request times out.")
    extra_body: dict | None = _option(None, "JSON object merged into each API request body.")  # noqa: RUF009
    model_kwargs: dict | None = _option(None, "JSON object of extra API request parameters.")  # noqa: RUF009


@dataclass
class Tasks:
    _argument_group_name = "pipeline: tasks"
    tasks: str = _option("math", "Training tasks: a bundled set, a local file or a Hub id.")
    train_limit: int | None = _option(3, "At most this many training tasks (none: all).")
    eval_tasks: str | None = _option(None, "Evaluation tasks (none: --tasks, split 'test').")
    eval_limit: int | None = _option(2, "At most this many evaluation tasks (none: all).")


@dataclass
class Collection:
    _argument_group_name = "pipeline: collection"
    candidates: int = _option(2, "Candidate replies per assistant turn (N).")
    proactive_share: float = _option(0.5, "Share of candidates with the proactive prompt.")
    samples: int = _option(2, "Forward samples per candidate (S; paper: 3).")
    window: int = _option(1, "Future turns per forward sample (w; paper: 2).")
    max_messages: int = _option(6, "Stop a conversation at this many messages.")
    max_concurrent_tasks: int = _option(2, "Tasks collected at once.")
    max_model_calls: int = _option(8, "Model calls in flight at once.")
    num_shards: int = _option(1, "Split the tasks into this many shards (datasets.shard).")
    shard_index: int = _option(0, "Collect only this shard (0 to num_shards - 1).")
    workers: int = _option(1, "Collect in this many shard processes, one progress bar.")
    checkpoint_samples: bool = _option(False, "Checkpoint forward samples: a kill redoes fewer "
                                       "calls, for a larger checkpoint database.")  # fmt: skip
    adaptive_z: float | None = _option(None, "Adaptive sampling: stop a candidate's forward "
                                       "samples once the best is clear, bounds z wide (wider: "
                                       "fewer calls saved); none: always S.")  # fmt: skip


@dataclass
class Export:
    _argument_group_name = "pipeline: export"
    min_gap: float = _option(0.05, "Minimum MR gap between chosen and rejected (DPO).")
    min_score: float | None = _option(None, "Drop SFT conversations with a lower mean MR.")
    dataset: str | None = _option(None, "Train on this dataset instead: folder, .jsonl, Hub id.")
    allow_missing_shards: bool = _option(False, "Export even if collect shards are missing.")


@dataclass
class Training:
    _argument_group_name = "pipeline: training"
    method: str = _option("dpo", f"Training method: one of {', '.join(METHODS)}.")
    lora: bool = _option(True, "Train a LoRA adapter (--no-lora: full fine-tuning).")
    lora_r: int = _option(8, "LoRA rank (paper: 32).")
    lora_alpha: int = _option(16, "LoRA alpha (paper: 16).")
    lora_dropout: float = _option(0.1, "LoRA dropout (paper: 0.1).")
    lora_target_modules: str = _option("all-linear", "'all-linear' or comma-separated names.")
    future_assistant: str = _option("policy", "GRPO / online DPO future turns: 'policy' or a spec.")


def _ours(default: Any, help: str, **argparse: Any) -> Any:
    return _option(default, f"{help} (default: %(default)s) [ours]", **argparse)


@dataclass
class Trl:
    """TRL fields whose defaults are ours (a CPU demo), applied where the method's TRL
    config has the field; every other TRL field goes to ``trl``."""

    _argument_group_name = "pipeline: trl"
    learning_rate: float = _ours(1e-4, "Peak learning rate.")
    per_device_train_batch_size: int = _ours(2, "Batch size per device.")
    gradient_accumulation_steps: int = _ours(1, "Gradient accumulation steps.")
    num_train_epochs: float = _ours(1.0, "Epochs (used when max_steps is none).")
    max_steps: int | None = _ours(6, "Optimizer steps (none: num_train_epochs).")
    beta: float = _ours(0.1, "KL strength: DPO / online DPO beta, GRPO KL coefficient.")
    temperature: float = _ours(1.0, "Sampling temperature of online generations.")
    max_length: int = _ours(1024, "Max tokens of a training sequence (SFT, DPO, online DPO).")
    num_generations: int = _ours(2, "GRPO completions per prompt (>= 2).")
    max_completion_length: int = _ours(64, "Max new tokens per online completion.")
    logging_steps: int = _ours(1, "Log every this many steps.")
    save_steps: int = _ours(4, "Checkpoint every this many steps (the resume points).")
    save_total_limit: int | None = _ours(2, "Checkpoints kept (none: all).")
    bf16: bool | None = _ours(None, "bf16 mixed precision (none: on with a bf16 GPU).",
                              nargs="?", const=True)  # `--bf16` alone: true  # fmt: skip
    gradient_checkpointing: bool = _ours(False, "Recompute activations to save memory.")


@dataclass
class Evaluation:
    _argument_group_name = "pipeline: evaluation"
    eval_max_turns: int = _option(3, "Assistant turns per evaluation conversation.")
    compare: str = _option(",".join(COMPARE), f"Models compared, among {', '.join(COMPARE)}.")


@dataclass
class CollabTrainConfig(Evaluation, Trl, Training, Export, Collection, Tasks, Models, Run):
    """Everything a ``python -m langgraph_collab.train`` run needs, by section; ``roles``
    holds the per-role options (``{'judge': {'method': ...}}``, flat keys ``judge_method``...
    in YAML and flags), ``trl`` every other field of the method's TRL config by name.

    Example:
        >>> config = CollabTrainConfig(method="grpo", max_steps=2)
        >>> config.validate().stage_list
        ['collect', 'export', 'train', 'evaluate', 'report']
    """

    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    trl: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        """``<output_dir>/<name>``: where every output of the run lives."""
        return Path(self.output_dir) / self.name

    @property
    def stage_list(self) -> list[str]:
        return split_list(self.stages)

    @property
    def compare_list(self) -> list[str]:
        return split_list(self.compare)

    @property
    def reward_options(self) -> RewardOptions:
        """The MR settings of collection and of the online methods' reward, as the one
        :class:`~langgraph_collab.reward.options.RewardOptions` every MR entry point takes
        (collection's default: a conversation, and its futures, end once the goal is met).

        Example:
            >>> CollabTrainConfig(samples=3, window=2, adaptive_z=1.0).reward_options.adaptive
            AdaptiveSampling(first=2, z=1.0, tolerance=0.0, min_spread=0.5, prior_weight=2.0)
        """
        adaptive = None if self.adaptive_z is None else AdaptiveSampling(z=self.adaptive_z)
        return RewardOptions.of(
            defaults=COLLECTION_DEFAULTS,
            samples=self.samples,
            window=self.window,
            adaptive=adaptive,
        )

    @property
    def target_modules(self) -> str | list[str]:
        """``"all-linear"`` or the list of module names, as ``peft.LoraConfig`` takes them."""
        names = split_list(self.lora_target_modules)
        return names[0] if names == ["all-linear"] else names

    def validate(self) -> CollabTrainConfig:
        """Check every value; raise :class:`ConfigError` listing all problems, else return self.

        Example:
            >>> try:
            ...     CollabTrainConfig(method="sgd", min_gap=-1).validate()
            ... except ConfigError as error:
            ...     print(error)
            Invalid training configuration:
              - method='sgd': unknown method; use one of sft, dpo, grpo, online_dpo
              - min_gap=-1: must be >= 0 (0 keeps every pair with different texts)
        """
        found = [f"  - {p}" for p in problems(self)]
        if found:
            raise ConfigError("Invalid training configuration:\n" + "\n".join(found))
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The configuration as YAML, by section with comments, roles and TRL options as
        their flat keys; written to ``path`` if given.

        Example:
            >>> "judge_max_tokens: 512" in CollabTrainConfig(roles={"judge": {"max_tokens": 512}}).to_yaml()
            True
        """  # noqa: E501
        import yaml

        lines = ["# langgraph-collab training configuration"]
        for name, section in sections(CollabTrainConfig).items():
            values = {f.name: getattr(self, f.name) for f in dataclasses.fields(section)}
            if section is Models:
                values |= {f"{r}_{k}": v for r, opts in self.roles.items() for k, v in opts.items()}
            values |= self.trl if section is Trl else {}
            lines.append(f"\n# {name}")
            lines += [yaml.safe_dump({k: v}, width=1000).rstrip("\n") for k, v in values.items()]
        text = "\n".join(lines) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


def trl_section() -> list[str]:
    """Our fields named as TRL's, whose defaults are ours (section ``trl``)."""
    return [f.name for f in dataclasses.fields(Trl)]


def config_from_yaml(path: str | Path, **overrides: Any) -> CollabTrainConfig:
    """A validated config from a flat YAML file; ``overrides`` (field values; ``roles`` and
    ``trl`` merge key by key) win over the file.

    Example:
        >>> config_from_yaml("examples/configs/dpo_math.yaml").method  # doctest: +SKIP
        'dpo'
    """
    data, source = read_yaml(path)
    values = check_keys(data, source, CollabTrainConfig, method=overrides.get("method"))
    values = split(values, CollabTrainConfig)
    for role, options in overrides.pop("roles", {}).items():
        values["roles"][role] = {**values["roles"].get(role, {}), **options}
    values["trl"] |= overrides.pop("trl", {})
    return CollabTrainConfig(**(values | overrides)).validate()


def load_config(
    argv: Sequence[str] | None = None, *, exit_on_error: bool = True
) -> CollabTrainConfig:
    """Parse ``argv`` (default ``sys.argv[1:]``): defaults < ``--config`` YAML < flags.

    A bad option, key or value raises :class:`ConfigError`; with ``exit_on_error`` it is
    printed instead (``error: config: ...`` on stderr) and the process exits with status 2.
    ``--help`` prints the pipeline's options and the method's TRL options and exits.
    ``--debug`` and ``--show-training-example`` are the CLI's, accepted and left out here.
    """
    try:
        path, given = parse_flags(list(sys.argv[1:] if argv is None else argv), CollabTrainConfig)
        if path is not None:
            return config_from_yaml(path, **given)
        return CollabTrainConfig(**given).validate()
    except ConfigError as error:
        if not exit_on_error:
            raise
        print(f"error: config: {error}", file=sys.stderr)
        raise SystemExit(2) from None
