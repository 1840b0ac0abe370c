"""The training run's configuration: one dataclass filled alike from YAML and CLI flags.

Flags win over the YAML file (``--config path.yaml``), which wins over the defaults; the
defaults are the demo that ``python -m langgraph_collab.train`` runs offline on two CPU
cores. Every field carries a help text; ``--help`` lists them by section with defaults.
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

import argparse
import contextlib
import dataclasses
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STAGES = ("collect", "export", "train", "evaluate", "report")
METHODS = ("sft", "dpo", "grpo", "online_dpo")
COMPARE = ("base", "proactive", "trained")
SECTIONS = ("run", "models", "tasks", "collection", "export", "training", "evaluation")
_LISTS = ("stages", "compare", "lora_target_modules")  # comma-separated; YAML lists accepted


class ConfigError(ValueError):
    """A configuration value or key is wrong; the message says which and what to do."""


def _section(section: str) -> Any:
    def option(default: Any, help: str) -> Any:
        return field(default=default, metadata={"help": help, "section": section})

    return option


_run, _models, _tasks, _collect, _export, _train, _eval = map(_section, SECTIONS)


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
    seed: int = _run(0, "Random seed (sampling, data order, LoRA init).")

    policy: str = _models("local", "Model to train: HF id or folder, 'local' or 'local:/x.gguf'.")
    user: str = _models("local", "Simulated user: a model spec ('provider:model', 'local').")
    judge: str = _models("local", "Judge: a model spec.")
    assistant: str = _models("local", "Collection assistant: a model spec, or 'policy'.")
    base_url: str | None = _models(None, "OpenAI-compatible server (vLLM...) for the roles.")
    api_key: str | None = _models(None, "API key for base_url.")
    max_tokens: int = _models(128, "Max new tokens per role reply.")

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

    min_gap: float = _export(0.05, "Minimum MR gap between chosen and rejected (DPO).")
    min_score: float | None = _export(None, "Drop SFT conversations with a lower mean MR.")
    dataset: str | None = _export(None, "Train on this dataset instead: folder, .jsonl, Hub id.")

    method: str = _train("dpo", f"Training method: one of {', '.join(METHODS)}.")
    learning_rate: float = _train(1e-4, "Peak learning rate.")
    per_device_train_batch_size: int = _train(2, "Batch size per device.")
    gradient_accumulation_steps: int = _train(1, "Gradient accumulation steps.")
    num_train_epochs: float = _train(1.0, "Epochs (used when max_steps is none).")
    max_steps: int | None = _train(6, "Optimizer steps (none: num_train_epochs).")
    beta: float = _train(0.1, "KL strength: DPO / online DPO beta, GRPO KL coefficient.")
    temperature: float = _train(1.0, "Sampling temperature of online generations.")
    lora: bool = _train(True, "Train a LoRA adapter (--no-lora: full fine-tuning).")
    lora_r: int = _train(8, "LoRA rank (paper: 32).")
    lora_alpha: int = _train(16, "LoRA alpha (paper: 16).")
    lora_dropout: float = _train(0.1, "LoRA dropout (paper: 0.1).")
    lora_target_modules: str = _train("all-linear", "'all-linear' or comma-separated names.")
    max_length: int = _train(1024, "Max tokens of a training sequence.")
    num_generations: int = _train(2, "GRPO completions per prompt (>= 2).")
    max_completion_length: int = _train(64, "Max new tokens per online completion.")
    logging_steps: int = _train(1, "Log every this many steps.")
    save_steps: int = _train(4, "Checkpoint every this many steps (the resume points).")
    save_total_limit: int | None = _train(2, "Checkpoints kept (none: all).")
    bf16: bool | None = _train(None, "bf16 mixed precision (none: on with a bf16 GPU).")
    gradient_checkpointing: bool = _train(False, "Recompute activations to save memory.")
    future_assistant: str = _train("policy", "GRPO / online DPO future turns: 'policy' or a spec.")

    eval_max_turns: int = _eval(3, "Assistant turns per evaluation conversation.")
    compare: str = _eval(",".join(COMPARE), f"Models compared, among {', '.join(COMPARE)}.")

    # ------------------------------------------------------------------ derived values

    @property
    def run_dir(self) -> Path:
        """``<output_dir>/<name>``: where every output of the run lives."""
        return Path(self.output_dir) / self.name

    @property
    def stage_list(self) -> list[str]:
        return _split(self.stages)

    @property
    def compare_list(self) -> list[str]:
        return _split(self.compare)

    @property
    def target_modules(self) -> str | list[str]:
        """``"all-linear"`` or the list of module names, as ``peft.LoraConfig`` takes them."""
        names = _split(self.lora_target_modules)
        return names[0] if names == ["all-linear"] else names

    # ------------------------------------------------------------------ checks and I/O

    def validate(self) -> CollabTrainConfig:
        """Check every value; raise :class:`ConfigError` listing all problems, else return self.

        Example:
            >>> try:
            ...     CollabTrainConfig(method="ppo", min_gap=-1).validate()
            ... except ConfigError as error:
            ...     print(error)
            Invalid training configuration:
              - method='ppo': unknown method; use one of sft, dpo, grpo, online_dpo
              - min_gap=-1: must be >= 0 (0 keeps every pair with different texts)
        """
        problems = [f"  - {p}" for p in _problems(self)]
        if problems:
            raise ConfigError("Invalid training configuration:\n" + "\n".join(problems))
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The configuration as YAML, by section with comments; written to ``path`` if given.

        Example:
            >>> text = CollabTrainConfig(name="x").to_yaml()
            >>> config_from_yaml_text(text).name
            'x'
        """
        import yaml

        lines = ["# langgraph-collab training configuration"]
        for section in SECTIONS:
            lines.append(f"\n# {section}")
            for f in _fields():
                if f.metadata["section"] == section:
                    dumped = yaml.safe_dump({f.name: getattr(self, f.name)}, width=1000)
                    lines.append(dumped.rstrip("\n"))
        text = "\n".join(lines) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


# ---------------------------------------------------------------------- validation


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _problems(c: CollabTrainConfig) -> list[str]:
    out: list[str] = []

    def need(ok: bool, name: str, message: str) -> None:
        if not ok:
            out.append(f"{name}={getattr(c, name)!r}: {message}")

    def choices(name: str, allowed: Sequence[str]) -> None:
        items = _split(getattr(c, name))
        unknown = [item for item in items if item not in allowed]
        need(bool(items), name, f"give at least one of {', '.join(allowed)}")
        need(not unknown, name, f"unknown {unknown}; choose among {', '.join(allowed)}")
        need(len(set(items)) == len(items), name, "remove the repeated entries")

    plain = bool(c.name.strip()) and not {"/", "\\"} & set(c.name) and c.name not in (".", "..")
    need(plain, "name", "use a plain folder name, without slashes")
    choices("stages", STAGES)
    choices("compare", COMPARE)
    need(c.method in METHODS, "method", f"unknown method; use one of {', '.join(METHODS)}")
    for name in ("policy", "user", "judge", "assistant", "future_assistant", "tasks"):
        need(bool(getattr(c, name).strip()), name, "must not be empty")
    url = c.base_url is None or c.base_url.startswith(("http://", "https://"))
    need(url, "base_url", "give a URL such as http://localhost:8000/v1")
    positive = [
        *("max_tokens", "candidates", "samples", "max_concurrent_tasks"),
        *("max_model_calls", "per_device_train_batch_size", "gradient_accumulation_steps"),
        *("lora_r", "max_length", "max_completion_length", "logging_steps", "save_steps"),
        "eval_max_turns",
    ]
    for name in positive:
        need(getattr(c, name) >= 1, name, "must be at least 1")
    for name in ("train_limit", "eval_limit", "max_steps", "save_total_limit"):
        value = getattr(c, name)
        need(value is None or value >= 1, name, "must be at least 1, or none")
    for name in ("learning_rate", "num_train_epochs", "lora_alpha", "temperature"):
        need(getattr(c, name) > 0, name, "must be positive")
    need(c.seed >= 0, "seed", "must be >= 0")
    need(c.window >= 0, "window", "must be >= 0 (0 scores the candidate alone)")
    need(0.0 <= c.proactive_share <= 1.0, "proactive_share", "must be in [0, 1]")
    need(c.min_gap >= 0, "min_gap", "must be >= 0 (0 keeps every pair with different texts)")
    need(0.0 <= c.lora_dropout < 1.0, "lora_dropout", "must be in [0, 1)")
    need(bool(_split(c.lora_target_modules)), "lora_target_modules", "name at least one module")
    need(c.max_messages >= 2, "max_messages", "must be >= 2 (a user message and a reply)")
    need(c.num_generations >= 2, "num_generations", "GRPO needs >= 2 completions per prompt")
    if c.method in ("dpo", "online_dpo"):
        need(c.beta > 0, "beta", f"{c.method} needs beta > 0")
    else:
        need(c.beta >= 0, "beta", "must be >= 0")
    if c.method == "online_dpo":
        fits = c.max_completion_length < c.max_length
        need(fits, "max_completion_length", "must be below max_length for online DPO")
    if c.method == "dpo" and "collect" in c.stage_list and c.dataset is None:
        need(c.candidates >= 2, "candidates", "DPO pairs need >= 2 candidates per turn")
    return out


# ---------------------------------------------------------------------- YAML and CLI


def _fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(CollabTrainConfig))


def _types() -> dict[str, Any]:
    return typing.get_type_hints(CollabTrainConfig)


def _base_type(annotation: Any) -> tuple[type, bool]:
    """``(type, optional)`` of a field annotation such as ``int | None``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if args:
        return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """A YAML value checked against the field's type (ints widen to floats, lists join)."""
    kind, optional = _base_type(annotation)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null")):
        if optional:
            return None
        raise ConfigError(f"config key {name!r}: must not be empty (expected {kind.__name__})")
    if name in _LISTS and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    if kind in (int, float) and isinstance(value, str):  # YAML reads 1e-4 as a string
        with contextlib.suppress(ValueError):
            value = kind(value)
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[kind]
    if not ok:
        raise ConfigError(
            f"config key {name!r}: expected {kind.__name__}"
            f"{' or none' if optional else ''}, got {type(value).__name__} {value!r}"
        )
    return float(value) if kind is float else value


def _check_keys(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    known = {f.name for f in _fields()}
    out = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{source}: unknown key {key!r}{hint} (see --help for the keys)")
        out[name] = value
    return out


def config_from_yaml_text(
    text: str, *, source: str = "<yaml>", **overrides: Any
) -> CollabTrainConfig:
    """A validated config from YAML text (a flat mapping of field names), then ``overrides``."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {error}") from error
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping of option: value, got {type(data).__name__}"
        )
    types = _types()
    values = {k: _coerce(k, v, types[k]) for k, v in _check_keys(data, source).items()}
    return CollabTrainConfig(**{**values, **overrides}).validate()


def config_from_yaml(path: str | Path, **overrides: Any) -> CollabTrainConfig:
    """A validated config from a YAML file; ``overrides`` (field values) win over the file.

    Example:
        >>> config = config_from_yaml("examples/configs/dpo_math.yaml")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    return config_from_yaml_text(path.read_text(encoding="utf-8"), source=str(path), **overrides)


def _parse_none(kind: type) -> Any:
    def parse(text: str) -> Any:
        return None if text.lower() in ("none", "null") else kind(text)

    parse.__name__ = f"{kind.__name__} or none"
    return parse


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser(*, prog: str = "python -m langgraph_collab.train") -> argparse.ArgumentParser:
    """The CLI parser: ``--config`` plus one flag per field, grouped by section.

    Flags default to "not given" (``argparse.SUPPRESS``), so that only the flags on the
    command line override the YAML file.
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        usage="%(prog)s [-h] [--config PATH] [--OPTION VALUE ...]",
        description="Collect MR-scored conversations, export TRL datasets, train with TRL and "
        "evaluate: CollabLLM as a LangGraph pipeline. Flags override --config YAML, which "
        "overrides the defaults shown. Every --dashed-option also takes --underscored_option "
        "spelling; booleans take --X, --X false or --no-X.",
        argument_default=argparse.SUPPRESS,
        allow_abbrev=False,
    )
    parser.add_argument("--config", metavar="PATH", help="YAML file of option: value pairs.")
    groups = {s: parser.add_argument_group(s) for s in SECTIONS}
    types = _types()
    for f in _fields():
        group = groups[f.metadata["section"]]
        kind, optional = _base_type(types[f.name])
        parse = _parse_none(kind) if optional else kind
        shown = "none" if f.default is None else f.default
        options: dict[str, Any] = {"dest": f.name, "type": parse, "metavar": kind.__name__.upper()}
        if kind is bool:
            boolean = _parse_none(_parse_bool) if optional else _parse_bool
            options |= {"nargs": "?", "const": True, "type": boolean}
        dashed = f.name.replace("_", "-")
        for spelling, help in (
            (dashed, f"{f.metadata['help']} (default: {shown})"),
            (f.name, None),
        ):
            if help is None and spelling == dashed:
                continue  # no underscore: one spelling
            hidden = argparse.SUPPRESS  # the underscore twin and --no-X stay out of --help
            group.add_argument(f"--{spelling}", **options, help=help or hidden)
            if kind is bool:
                group.add_argument(
                    f"--no-{spelling}", dest=f.name, action="store_false", help=hidden
                )
    return parser


def load_config(
    argv: Sequence[str] | None = None, *, exit_on_error: bool = True
) -> CollabTrainConfig:
    """Parse ``argv`` (default ``sys.argv[1:]``): defaults < ``--config`` YAML < flags.

    With ``exit_on_error`` (the CLI), a bad key or value prints usage and the problem and
    exits with status 2, as argparse does; without it, :class:`ConfigError` is raised.

    Example:
        >>> load_config(["--config", "my.yaml", "--max-steps", "20"])  # doctest: +SKIP
    """
    parser = build_parser()
    args = vars(parser.parse_args(list(sys.argv[1:] if argv is None else argv)))
    path = args.pop("config", None)
    try:
        if path is not None:
            return config_from_yaml(path, **args)
        return CollabTrainConfig(**args).validate()
    except ConfigError as error:
        if not exit_on_error:
            raise
        parser.error(str(error))
        raise  # unreachable: parser.error exits
