"""The training run's configuration: one dataclass filled alike from YAML and CLI flags.

Flags win over the YAML file (``--config path.yaml``), which wins over the defaults; the
defaults are the demo that ``python -m langgraph_collab.train`` runs offline on two CPU
cores. The file is flat, as TRL's: pipeline options, per-role model options
(``<role>_<option>``, e.g. ``judge_method``; :mod:`~langgraph_collab.train.roles`) and any
field of the method's TRL config (``lr_scheduler_type``, ``loss_type``...;
:mod:`~langgraph_collab.train.trl_args`), each checked, an unknown name an error with
did-you-mean. ``--help`` lists the pipeline's options by section and the TRL options.
Both ``--learning-rate`` and ``--learning_rate`` work, booleans take ``--lora`` /
``--no-lora`` (or ``--lora false``), and optional values take ``none``.

Example:
    >>> from langgraph_collab.train.config import load_config
    >>> config = load_config(["--method", "sft", "--learning-rate", "2e-5", "--no-lora"])
    >>> config.method, config.learning_rate, config.lora
    ('sft', 2e-05, False)
    >>> config.run_dir.as_posix()
    'runs/demo'
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph_collab.options_check import did_you_mean  # noqa: F401 (flags, checks)

STAGES = ("collect", "export", "train", "evaluate", "report")
METHODS = ("sft", "dpo", "grpo", "online_dpo")
COMPARE = ("base", "proactive", "trained")
SECTIONS = ("run", "models", "tasks", "collection", "export", "training", "trl", "evaluation")
LIST_OPTIONS = ("stages", "compare", "lora_target_modules")  # comma-separated; YAML lists accepted


class ConfigError(ValueError):
    """A configuration value or key is wrong; the message says which and what to do."""


def _section(section: str) -> Any:
    def option(default: Any, help: str) -> Any:
        return field(default=default, metadata={"help": help, "section": section})

    return option


_run, _models, _tasks, _collect, _export, _train, _trl, _eval = map(_section, SECTIONS)


@dataclass
class CollabTrainConfig:
    """Everything a ``python -m langgraph_collab.train`` run needs, by section.

    Example:
        >>> config = CollabTrainConfig(method="grpo", max_steps=2)
        >>> config.validate().stage_list
        ['collect', 'export', 'train', 'evaluate', 'report']
    """

    name: str = _run("demo", "Run name: outputs go to <output_dir>/<name>/.")
    output_dir: str = _run("runs", "Folder holding the run folders.")
    stages: str = _run(",".join(STAGES), f"Comma-separated stages among {', '.join(STAGES)}.")
    seed: int = _run(0, "Random seed (sampling, data order, LoRA init; TRL's seed).")

    policy: str = _models("local", "Model to train: HF id or folder, 'local' or 'local:/x.gguf'.")
    user: str = _models("local", "Simulated user: a model spec ('provider:model', 'local').")
    judge: str = _models("local", "Judge: a model spec.")
    assistant: str = _models("local", "Collection assistant: a model spec, or 'policy'.")
    base_url: str | None = _models(None, "OpenAI-compatible server (vLLM...) for the API roles.")
    api_key_env: str | None = _models(None, "Environment variable holding the API key.")
    api_key: str | None = _models(None, "API key itself (prefer api_key_env: kept out of files).")
    max_tokens: int = _models(128, "Max new tokens per role reply.")
    timeout: float | None = _models(None, "Seconds before an API request times out.")
    extra_body: dict | None = _models(None, "JSON object merged into each API request body.")  # noqa: RUF009 (None)
    model_kwargs: dict | None = _models(None, "JSON object of extra API request parameters.")  # noqa: RUF009 (None)

    tasks: str = _tasks("math", "Training tasks: a bundled set, a local file or a Hub id.")
    train_limit: int | None = _tasks(3, "At most this many training tasks (none: all).")
    eval_tasks: str | None = _tasks(None, "Evaluation tasks (none: --tasks, split 'test').")
    eval_limit: int | None = _tasks(2, "At most this many evaluation tasks (none: all).")

    candidates: int = _collect(2, "Candidate replies per assistant turn (N).")
    proactive_share: float = _collect(0.5, "Share of candidates with the proactive prompt.")
    samples: int = _collect(2, "Forward samples per candidate (S; paper: 3).")
    window: int = _collect(1, "Future turns per forward sample (w; paper: 2).")
    max_messages: int = _collect(6, "Stop a conversation at this many messages.")
    max_concurrent_tasks: int = _collect(2, "Tasks collected at once.")
    max_model_calls: int = _collect(8, "Model calls in flight at once.")
    num_shards: int = _collect(1, "Split the tasks into this many shards (datasets.shard).")
    shard_index: int = _collect(0, "Collect only this shard (0 to num_shards - 1).")
    workers: int = _collect(1, "Collect in this many shard processes, one progress bar.")
    checkpoint_samples: bool = _collect(False, "Checkpoint forward samples: a kill redoes "
                                        "fewer calls; ~9x the checkpoint database.")  # fmt: skip
    adaptive_z: float | None = _collect(None, "Adaptive sampling: stop a candidate's forward "
                                        "samples once the best is clear, bounds z wide "
                                        "(1.0: ~1/3 fewer calls); none: always S.")  # fmt: skip

    min_gap: float = _export(0.05, "Minimum MR gap between chosen and rejected (DPO).")
    min_score: float | None = _export(None, "Drop SFT conversations with a lower mean MR.")
    dataset: str | None = _export(None, "Train on this dataset instead: folder, .jsonl, Hub id.")
    allow_missing_shards: bool = _export(False, "Export even if collect shards are missing.")

    method: str = _train("dpo", f"Training method: one of {', '.join(METHODS)}.")
    lora: bool = _train(True, "Train a LoRA adapter (--no-lora: full fine-tuning).")
    lora_r: int = _train(8, "LoRA rank (paper: 32).")
    lora_alpha: int = _train(16, "LoRA alpha (paper: 16).")
    lora_dropout: float = _train(0.1, "LoRA dropout (paper: 0.1).")
    lora_target_modules: str = _train("all-linear", "'all-linear' or comma-separated names.")
    future_assistant: str = _train("policy", "GRPO / online DPO future turns: 'policy' or a spec.")

    # TRL fields whose defaults are ours (a CPU demo); each applies where the method's TRL
    # config has it. Every other TRL field goes to ``trl``.
    learning_rate: float = _trl(1e-4, "Peak learning rate.")
    per_device_train_batch_size: int = _trl(2, "Batch size per device.")
    gradient_accumulation_steps: int = _trl(1, "Gradient accumulation steps.")
    num_train_epochs: float = _trl(1.0, "Epochs (used when max_steps is none).")
    max_steps: int | None = _trl(6, "Optimizer steps (none: num_train_epochs).")
    beta: float = _trl(0.1, "KL strength: DPO / online DPO beta, GRPO KL coefficient.")
    temperature: float = _trl(1.0, "Sampling temperature of online generations.")
    max_length: int = _trl(1024, "Max tokens of a training sequence (SFT, DPO, online DPO).")
    num_generations: int = _trl(2, "GRPO completions per prompt (>= 2).")
    max_completion_length: int = _trl(64, "Max new tokens per online completion.")
    logging_steps: int = _trl(1, "Log every this many steps.")
    save_steps: int = _trl(4, "Checkpoint every this many steps (the resume points).")
    save_total_limit: int | None = _trl(2, "Checkpoints kept (none: all).")
    bf16: bool | None = _trl(None, "bf16 mixed precision (none: on with a bf16 GPU).")
    gradient_checkpointing: bool = _trl(False, "Recompute activations to save memory.")

    eval_max_turns: int = _eval(3, "Assistant turns per evaluation conversation.")
    compare: str = _eval(",".join(COMPARE), f"Models compared, among {', '.join(COMPARE)}.")

    roles: dict[str, dict[str, Any]] = field(
        default_factory=dict,
        metadata={"help": "Per-role model options: {'judge': {'method': ...}} (flat keys "
                  "'judge_method'... in YAML and flags).", "section": None},
    )  # fmt: skip
    trl: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "Every other field of the method's TRL config, by name; the user's "
                  "values win over ours.", "section": None},
    )  # fmt: skip

    # ------------------------------------------------------------------ derived values

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
    def target_modules(self) -> str | list[str]:
        """``"all-linear"`` or the list of module names, as ``peft.LoraConfig`` takes them."""
        names = split_list(self.lora_target_modules)
        return names[0] if names == ["all-linear"] else names

    # ------------------------------------------------------------------ checks and I/O

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
        from langgraph_collab.train.checks import problems as find_problems

        problems = [f"  - {p}" for p in find_problems(self)]
        if problems:
            raise ConfigError("Invalid training configuration:\n" + "\n".join(problems))
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The configuration as YAML, by section with comments, roles and TRL options as
        their flat keys; written to ``path`` if given.

        Example:
            >>> text = CollabTrainConfig(name="x", roles={"judge": {"max_tokens": 512}}).to_yaml()
            >>> "judge_max_tokens: 512" in text, config_from_yaml_text(text).name
            (True, 'x')
        """
        import yaml

        def dump(key: str, value: Any) -> str:
            return yaml.safe_dump({key: value}, width=1000, sort_keys=False).rstrip("\n")

        lines = ["# langgraph-collab training configuration"]
        for section in SECTIONS:
            lines.append(f"\n# {section}")
            lines += [dump(f.name, getattr(self, f.name)) for f in option_fields(section)]
            if section == "models":
                for role, options in self.roles.items():
                    lines += [dump(f"{role}_{k}", v) for k, v in options.items()]
            if section == "trl":
                lines += [dump(k, v) for k, v in self.trl.items()]
        text = "\n".join(lines) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


# ---------------------------------------------------------------------- helpers


def split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def option_fields(section: str | None = None) -> list[dataclasses.Field]:
    """The flat options (every field but ``roles`` and ``trl``), of one section if given."""
    fields = [f for f in dataclasses.fields(CollabTrainConfig) if f.metadata["section"]]
    return [f for f in fields if section in (None, f.metadata["section"])]


def trl_section() -> list[str]:
    """Our fields named as TRL's, whose defaults are ours (section ``trl``)."""
    return [f.name for f in option_fields("trl")]


def field_types() -> dict[str, Any]:
    return typing.get_type_hints(CollabTrainConfig)


def base_type(annotation: Any) -> tuple[type, bool]:
    """``(type, optional)`` of a field annotation such as ``int | None``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if args and typing.get_origin(annotation) is not dict:
        return typing.get_origin(args[0]) or args[0], len(args) < len(typing.get_args(annotation))
    return typing.get_origin(annotation) or annotation, False


# ---------------------------------------------------------------------- YAML


def _yaml_loader(source: str) -> Any:
    """PyYAML's safe loader, refusing a key given twice (PyYAML keeps the last silently)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise ConfigError(
                        f"{source}: key {key!r} is given twice (lines {seen[key]} and {line}): "
                        "keep one"
                    )
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

    return Loader


def read_mapping(text: str, source: str = "<yaml>") -> dict[str, Any]:
    """The YAML text's mapping of option: value, or a :class:`ConfigError` naming the file."""
    import yaml

    try:
        data = yaml.load(text, Loader=_yaml_loader(source))  # a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(
            f"{source}: {where}not valid YAML ({error.problem or error.context}): write one "
            "'option: value' per line; quote values holding ': ' or ' #'"
        ) from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML ({error}): fix the syntax") from error
    if data is None:
        raise ConfigError(
            f"{source}: the file is empty (no options): write 'option: value' lines (see "
            "--help), or drop --config to run the demo defaults"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping of option: value, got a YAML "
            f"{type(data).__name__}: write one 'option: value' per line, e.g. 'method: dpo'"
        )
    return data


def read_yaml_file(path: str | Path) -> tuple[str, str]:
    """``(text, source)`` of a YAML file (UTF-8, a byte-order mark allowed)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(f"--config {path} is a folder: give a YAML file")
    if not path.is_file():
        raise ConfigError(
            f"config file not found: {path} (working folder {Path.cwd()}): check the path, "
            "or write one with CollabTrainConfig().to_yaml(path)"
        )
    try:
        return path.read_text(encoding="utf-8-sig"), str(path)
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason}): save it as UTF-8") from error


def config_from_mapping(
    data: dict[str, Any], *, source: str = "<yaml>", **overrides: Any
) -> CollabTrainConfig:
    """A validated config from a flat mapping of option: value (pipeline options,
    ``<role>_<option>`` keys, TRL fields), then ``overrides`` (field values; ``roles`` and
    ``trl`` merge key by key). A TRL field is checked against the method's TRL config.

    Example:
        >>> config_from_mapping({"judge_method": "function_calling"}).roles
        {'judge': {'method': 'function_calling'}}
    """
    from langgraph_collab.train.checks import split_keys

    values, roles, trl = split_keys(data, source, method=overrides.get("method"))
    for role, options in overrides.pop("roles", {}).items():
        roles[role] = {**roles.get(role, {}), **options}
    trl |= overrides.pop("trl", {})
    return CollabTrainConfig(**{**values, **overrides, "roles": roles, "trl": trl}).validate()


def config_from_yaml_text(
    text: str, *, source: str = "<yaml>", **overrides: Any
) -> CollabTrainConfig:
    """A validated config from YAML text (a flat mapping), then ``overrides``.

    An empty file, a key given twice, a nested section, an unknown key or a value of the
    wrong type is a :class:`ConfigError` naming the file, the key and the fix.
    """
    return config_from_mapping(read_mapping(text, source), source=source, **overrides)


def config_from_yaml(path: str | Path, **overrides: Any) -> CollabTrainConfig:
    """A validated config from a YAML file; ``overrides`` (field values) win over the file.

    Example:
        >>> config = config_from_yaml("examples/configs/dpo_math.yaml")  # doctest: +SKIP
    """
    text, source = read_yaml_file(path)
    return config_from_yaml_text(text, source=source, **overrides)


def load_config(
    argv: Sequence[str] | None = None, *, exit_on_error: bool = True
) -> CollabTrainConfig:
    """Parse ``argv`` (default ``sys.argv[1:]``): defaults < ``--config`` YAML < flags.

    A bad option, key or value raises :class:`ConfigError`; with ``exit_on_error`` it is
    printed instead (``error: config: ...`` on stderr) and the process exits with status 2.
    ``--help`` prints the pipeline's options and the method's TRL options and exits.
    ``--debug`` is accepted and ignored here (the CLI reads it).

    Example:
        >>> load_config(["--config", "my.yaml", "--max-steps", "20"])  # doctest: +SKIP
    """
    from langgraph_collab.train.flags import parse_flags

    try:
        path, given = parse_flags(list(sys.argv[1:] if argv is None else argv))
        if path is not None:
            return config_from_yaml(path, **given)
        return config_from_mapping({}, source="flags", **given)
    except ConfigError as error:
        if not exit_on_error:
            raise
        print(f"error: config: {error}", file=sys.stderr)
        raise SystemExit(2) from None
