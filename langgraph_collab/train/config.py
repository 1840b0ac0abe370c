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
import dataclasses
import difflib
import sys
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STAGES = ("collect", "export", "train", "evaluate", "report")
METHODS = ("sft", "dpo", "grpo", "online_dpo")
COMPARE = ("base", "proactive", "trained")
SECTIONS = ("run", "models", "tasks", "collection", "export", "training", "evaluation")
LIST_OPTIONS = ("stages", "compare", "lora_target_modules")  # comma-separated; YAML lists accepted


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


def split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def did_you_mean(value: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, allowed, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------------- YAML and CLI


def _fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(CollabTrainConfig))


def _types() -> dict[str, Any]:
    return typing.get_type_hints(CollabTrainConfig)


def base_type(annotation: Any) -> tuple[type, bool]:
    """``(type, optional)`` of a field annotation such as ``int | None``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if args:
        return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False


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


def config_from_yaml_text(
    text: str, *, source: str = "<yaml>", **overrides: Any
) -> CollabTrainConfig:
    """A validated config from YAML text (a flat mapping of field names), then ``overrides``.

    An empty file, a key given twice, a nested section, an unknown key or a value of the
    wrong type is a :class:`ConfigError` naming the file, the key and the fix.
    """
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
    from langgraph_collab.train.checks import check_keys, coerce

    types = _types()
    values = {k: coerce(k, v, types[k], source) for k, v in check_keys(data, source).items()}
    return CollabTrainConfig(**{**values, **overrides}).validate()


def config_from_yaml(path: str | Path, **overrides: Any) -> CollabTrainConfig:
    """A validated config from a YAML file (UTF-8, a byte-order mark allowed);
    ``overrides`` (field values) win over the file.

    Example:
        >>> config = config_from_yaml("examples/configs/dpo_math.yaml")  # doctest: +SKIP
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(f"--config {path} is a folder: give a YAML file")
    if not path.is_file():
        raise ConfigError(
            f"config file not found: {path} (working folder {Path.cwd()}): check the path, "
            "or write one with CollabTrainConfig().to_yaml(path)"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason}): save it as UTF-8") from error
    return config_from_yaml_text(text, source=str(path), **overrides)


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


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`ConfigError` (one line, a did-you-mean for a mistyped
    option) instead of printing usage and exiting; ``--help`` still prints and exits."""

    def error(self, message: str) -> typing.NoReturn:
        raise ConfigError(f"{message} (see --help)")

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            first = extra[0]
            if not first.startswith("-"):
                raise ConfigError(
                    f"unexpected argument {first!r}: options take the form --name value "
                    "(see --help)"
                )
            options = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
            hint = did_you_mean(first.split("=")[0], options)
            raise ConfigError(f"unknown option {first}{hint}; see --help for the options")
        return parsed


def build_parser(*, prog: str = "python -m langgraph_collab.train") -> argparse.ArgumentParser:
    """The CLI parser: ``--config`` plus one flag per field, grouped by section.

    Flags default to "not given" (``argparse.SUPPRESS``), so that only the flags on the
    command line override the YAML file.
    """
    parser = _Parser(
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
    parser.add_argument(
        "--debug", action="store_true", help="On a failure, show the full traceback."
    )
    groups = {s: parser.add_argument_group(s) for s in SECTIONS}
    types = _types()
    for f in _fields():
        group = groups[f.metadata["section"]]
        kind, optional = base_type(types[f.name])
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

    A bad option, key or value raises :class:`ConfigError`; with ``exit_on_error`` it is
    printed instead (``error: config: ...`` on stderr) and the process exits with status 2.
    ``--debug`` is accepted and ignored here (the CLI reads it).

    Example:
        >>> load_config(["--config", "my.yaml", "--max-steps", "20"])  # doctest: +SKIP
    """
    try:
        args = vars(build_parser().parse_args(list(sys.argv[1:] if argv is None else argv)))
        args.pop("debug", None)
        path = args.pop("config", None)
        if path is not None:
            return config_from_yaml(path, **args)
        return CollabTrainConfig(**args).validate()
    except ConfigError as error:
        if not exit_on_error:
            raise
        print(f"error: config: {error}", file=sys.stderr)
        raise SystemExit(2) from None
