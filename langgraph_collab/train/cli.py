"""The flags and the YAML file of ``python -m langgraph_collab.train``, read with
transformers' ``HfArgumentParser``, the parser under TRL's ``TrlParser``.

The parser makes a flag of each field of the configuration's section dataclasses, of the
per-role options and of the method's TRL config (``SFTConfig``, ``DPOConfig``...) as TRL's
own scripts do: ``--learning-rate`` or ``--learning_rate``, ``--lora false`` or
``--no-lora``, lists as several values, TRL's choices and help, a ``--help`` group per
dataclass. Ours, where ``TrlParser.parse_args_and_config`` stops short: it reads the YAML
file with no line number for an error, keeps the last of a key given twice and passes the
values on unchecked, so :func:`read_yaml` and :func:`check_value` read and check them here;
a bad flag is a :class:`ConfigError` with a did-you-mean, not argparse's usage text and
exit; only the flags given come back, so they override the file key by key and a TRL option
the user set is told from TRL's default; TRL is imported only for a flag that is not a
pipeline option, or for ``--help``; ``none`` is None for an optional value.

Example:
    >>> from langgraph_collab.train.config import CollabTrainConfig
    >>> parse_flags(["--method", "sft", "--judge-method", "text", "--max-steps", "none"],
    ...             CollabTrainConfig)
    (None, {'method': 'sft', 'max_steps': None, 'roles': {'judge': {'method': 'text'}}, 'trl': {}})
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import enum
import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from langgraph_collab.options_check import did_you_mean
from langgraph_collab.train.checks import JUDGE_METHODS, METHODS, ROLE_KEYS

LIST_OPTIONS = ("stages", "compare", "lora_target_modules")  # comma-separated; YAML lists too
EXAMPLES = {int: "a whole number such as 20", float: "a number such as 0.5",
            bool: "true or false", str: "a text (quote it if it looks like a number)",
            dict: "a mapping such as {top_k: 20}"}  # fmt: skip
RUN_DEFAULTS = {"use_cpu": "on without an accelerator", "report_to": "none",
                "save_strategy": "steps", "dataloader_num_workers": "0",
                "include_num_input_tokens_seen": "non_padding for sft and dpo",
                "max_new_tokens": "max_completion_length"}  # fmt: skip
"""TRL fields the run sets beyond the ``trl`` section, as ``--help`` shows them."""
CLI_ONLY = ("help", "config", "debug", "show_training_example")


class ConfigError(ValueError):
    """A configuration value or key is wrong; the message says which and what to do."""


def trl_classes(method: str) -> tuple[type, type]:
    """``(config class, trainer class)`` of the installed TRL for ``method``."""
    from langgraph_collab.roles.models import INSTALL_TRAIN

    try:
        import trl
    except ImportError as error:
        raise ImportError(f"Training needs the train extra: {INSTALL_TRAIN}") from error
    if method != "online_dpo":
        return getattr(trl, f"{method.upper()}Config"), getattr(trl, f"{method.upper()}Trainer")
    try:  # TRL 1.x moved online DPO to trl.experimental
        from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer
    except ImportError as error:
        raise RuntimeError(f"method='online_dpo' needs trl.experimental.online_dpo, which TRL "
                           f"{trl.__version__} does not have; use --method grpo (MR as its "
                           "reward) instead") from error  # fmt: skip
    return OnlineDPOConfig, OnlineDPOTrainer


def field_types(config_class: type) -> dict[str, Any]:
    """``{field name: resolved annotation}`` of a dataclass, in declaration order."""
    hints = typing.get_type_hints(config_class)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_class) if f.init}


def read_yaml(path: str | Path) -> tuple[dict[str, Any], str]:
    """``(mapping, source)`` of a flat YAML file, or a :class:`ConfigError` naming the file
    (and the line, for a syntax error or a key given twice)."""
    import yaml

    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(f"--config {path} is a folder: give a YAML file")
    if not path.is_file():
        raise ConfigError(
            f"config file not found: {path} (working folder {Path.cwd()}): "
            "check the path, or write one with CollabTrainConfig().to_yaml(path)"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason}): save it as UTF-8") from error

    class Loader(yaml.SafeLoader):  # refuses a key given twice (PyYAML keeps the last)
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
                if key in seen:
                    raise ConfigError(f"{path}: key {key!r} is given twice (lines {seen[key]} "
                                      f"and {line}): keep one")  # fmt: skip
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

    try:
        data = yaml.load(text, Loader=Loader)  # a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{path}: {where}not valid YAML ({error.problem or error.context}): "
                          "write one 'option: value' per line; quote values holding ': ' or "
                          "' #'") from error  # fmt: skip
    if data is None:
        raise ConfigError(f"{path}: the file is empty (no options): write 'option: value' lines "
                          "(see --help), or drop --config to run the demo defaults")  # fmt: skip
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of option: value, got a YAML "
                          f"{type(data).__name__}: write one 'option: value' per line, e.g. "
                          "'method: dpo'")  # fmt: skip
    return data, str(path)


def check_value(name: str, value: Any, annotation: Any, *, source: str, label: str = "") -> Any:
    """``value`` (from YAML) as the field's ``annotation`` takes it (pydantic's lax reading:
    ``"1e-4"`` a float; one item a list; an enum its value), or a :class:`ConfigError`.

    Example:
        >>> check_value("max_steps", "1e3", int | None, source="run.yaml")
        Traceback (most recent call last):
        ...
        langgraph_collab.train.cli.ConfigError: run.yaml: config key 'max_steps': expected int or none, got str '1e3': give a whole number such as 20 or none
    """  # noqa: E501
    from pydantic import ConfigDict, TypeAdapter, ValidationError

    label = label or f"config key {name!r}"
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    members = list(typing.get_args(annotation)) if union else [annotation]
    optional, members = type(None) in members, [m for m in members if m is not type(None)]
    if value is None and optional:
        return None
    if value is None:
        raise ConfigError(f"{source}: {label}: must not be empty (expected "
                          f"{getattr(annotation, '__name__', annotation)}): give "
                          f"{EXAMPLES.get(annotation, 'a value')}, or remove the key for its "
                          "default")  # fmt: skip
    if name in LIST_OPTIONS and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    allowed = [c for m in members for c in _choices(m)]  # str | Enum: the enum's values
    adapter = TypeAdapter(annotation, config=ConfigDict(arbitrary_types_allowed=True))
    one_item = any(typing.get_origin(m) is list for m in members) and not isinstance(value, list)
    for candidate in [value, [value]] if one_item else [value]:
        if isinstance(value, bool) and bool not in members and Any not in members:
            break  # pydantic reads True as 1
        try:
            fitted = adapter.validate_python(candidate)
        except ValidationError:
            continue
        items = [_plain(v) for v in fitted] if isinstance(fitted, list) else [_plain(fitted)]
        if not allowed or all(v in allowed for v in items):
            return items if isinstance(fitted, list) else items[0]
    none = " or none" if optional else ""
    if allowed:
        expected, hint = f"one of {allowed}", did_you_mean(str(value), [str(a) for a in allowed])
    else:
        expected = " or ".join(getattr(m, "__name__", str(m)) for m in members) + none
        hint = " or ".join(EXAMPLES[m] for m in members if m in EXAMPLES)
        hint = f": give {hint}{none}" if hint else ""
    raise ConfigError(f"{source}: {label}: expected {expected}, got {type(value).__name__} "
                      f"{value!r}{hint}")  # fmt: skip


def _choices(kind: Any) -> list[Any]:
    """The values an enum or ``Literal`` field takes (none for another type)."""
    if typing.get_origin(kind) is typing.Literal:
        return list(typing.get_args(kind))
    return [e.value for e in kind] if isinstance(kind, type) and issubclass(kind, enum.Enum) else []


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def check_keys(
    values: Mapping[str, Any], source: str, config_class: type, *, method: str | None = None
) -> dict[str, Any]:
    """A flat file's keys (dashes read as underscores) and values, each checked: a pipeline
    or role option against its field, any other key as a field of the method's TRL config
    (``method`` if given, else the file's, else the default), else a did-you-mean.

    Example:
        >>> from langgraph_collab.train.config import CollabTrainConfig
        >>> check_keys({"max-steps": "3", "judge_method": "text"}, "run.yaml", CollabTrainConfig)
        {'max_steps': 3, 'judge_method': 'text'}
    """
    kinds = field_types(config_class)
    kinds |= {k: str if o == "method" else kinds[o] for k, (_, o) in ROLE_KEYS.items()}
    nested = {"roles", "trl", *sections(config_class)}
    ours, others = {}, {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if isinstance(value, dict) and name in nested:
            raise ConfigError(f"{source}: key {key!r}: sections are not nested in the file; write "
                              f"the options under {key!r} at the top level (e.g. "
                              f"'{next(iter(value), 'x')}: ...')")  # fmt: skip
        if name in kinds and name not in ("roles", "trl"):
            ours[name] = check_value(name, value, kinds[name], source=source)
        else:
            others[name] = value
    method = method or ours.get("method") or config_class.method
    if others and method in METHODS:  # an unknown method is reported by validate()
        others = check_trl_options(method, others, source=source, ours=list(kinds))
    return ours | others


def check_trl_options(
    method: str, values: Mapping[str, Any], *, source: str, ours: list[str]
) -> dict[str, Any]:
    """``values`` checked against the method's TRL config: each name one of its fields (else
    a did-you-mean among ``ours`` and TRL's), each value of the field's type, plain data."""
    try:
        config_class = trl_classes(method)[0]
    except (ImportError, RuntimeError) as error:
        name = next(iter(values))
        raise ConfigError(f"{source}: unknown key {name!r}{suggest(name, ours)}: not a "
                          f"pipeline option, and TRL's options cannot be checked ({error})"
                          ) from error  # fmt: skip
    fields, of = field_types(config_class), config_class.__name__
    for name in values:
        if name not in fields:
            raise ConfigError(f"{source}: unknown key {name!r}"
                              f"{suggest(name, [*ours, *fields], config_class)} (not a pipeline "
                              f"option nor a field of {of} for method {method}; see --help for "
                              "the keys)")  # fmt: skip
    return {k: check_value(k, v, fields[k], source=source, label=f"TRL option {k!r} ({of})")
            for k, v in values.items()}  # fmt: skip


def suggest(name: str, names: list[str], config_class: type | None = None) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``names``, with TRL's help of the field
    when it is one (so a renamed field says what its new name does), or ``""``."""
    close = difflib.get_close_matches(name, names, n=1)
    fields = {f.name: f for f in dataclasses.fields(config_class)} if config_class else {}
    about = fields[close[0]].metadata.get("help", "") if close and close[0] in fields else ""
    about = f" (TRL: {about[:160].rstrip()}{'...' if len(about) > 160 else ''})" if about else ""
    return f"; did you mean {close[0]!r}?{about}" if close else ""


def sections(config_class: type) -> dict[str, type]:
    """``{name: dataclass}`` of the sections ``config_class`` is made of, in order: one
    ``--help`` group each (``_argument_group_name``, as ``HfArgumentParser`` reads it)."""
    found = [c for c in reversed(config_class.__mro__) if "_argument_group_name" in vars(c)]
    return {c._argument_group_name.removeprefix("pipeline: "): c for c in found}


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"top_k\": 20}}', "
                                         f"got {text!r} ({error.msg})") from error  # fmt: skip
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def build_parser(config_class: type, *, method: str | None = None, help: bool = False) -> Any:
    """``HfArgumentParser`` over the method's TRL config (when ``method`` is given), the
    sections of ``config_class`` and the per-role options; ours win where a name is both.
    With ``help``, the defaults shown are those the run applies."""
    from transformers import HfArgumentParser

    class Parser(HfArgumentParser):
        names: list[str]  # every option's name, for a did-you-mean

        def error(self, message: str) -> NoReturn:
            raise ConfigError(f"{message} (see --help)")

    kinds = field_types(config_class)
    about = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(config_class)}
    about["method"] = "Structured-output method of the judge (default: auto)."
    roles = dataclasses.make_dataclass("Roles", [
        (key, (str if option == "method" else kinds[option]) | None, dataclasses.field(
            default=None, metadata={"help": f"{role}: {about[option]}"} | (
                {"choices": JUDGE_METHODS} if option == "method" else {})))
        for key, (role, option) in ROLE_KEYS.items()
    ], namespace={"_argument_group_name": "pipeline: roles"})  # fmt: skip
    trl = [trl_classes(method)[0]] if method is not None else []
    title = (
        f"TRL: {trl[0].__name__} (--method {method}; --method X --help lists X's)" if trl else ""
    )
    trl = [type(c.__name__, (c,), {"_argument_group_name": title}) for c in trl]
    parser = Parser(
        [*trl, *sections(config_class).values(), roles], prog="python -m langgraph_collab.train",
        usage="%(prog)s [-h] [--config PATH] [--OPTION VALUE ...]", allow_abbrev=False,
        add_help=False, conflict_handler="resolve",
        description="Collect MR-scored conversations, export TRL datasets, train with TRL and "
        "evaluate: CollabLLM as a LangGraph pipeline. Flags override --config YAML (a flat file of "
        "the same names), which overrides the defaults shown. Optional values take none. Roles: "
        "<role>_<option> overrides a models option for one role. TRL: every field of the "
        "method's config; [ours] marks our defaults; output_dir, seed and debug are ours.",
    )  # fmt: skip
    parser.register("type", dict, _json_object)  # a JSON object for a dict field
    parser.add_argument("-h", "--help", action="store_true", help="Show this help and exit.")
    parser.add_argument("--config", metavar="PATH", help="YAML file of option: value pairs.")
    parser.add_argument("--debug", action="store_true", help="On a failure, show the traceback.")
    parser.add_argument("--show-training-example", type=int, metavar="N", help=(
        'Print the first N training examples of --method sft or dpo as TRL tokenizes them, one '
        'JSON line each: {"trained": the decoded tokens that carry loss, "ignored": the decoded '
        "rest}; then exit without training. Reads the dataset the train stage would (--dataset, "
        "else the run's export)."))  # fmt: skip
    for name in [n for n, k in kinds.items() if k in (bool, bool | None)]:  # HF: True ones only
        dashed = name.replace("_", "-")
        parser.add_argument(f"--no_{name}", f"--no-{dashed}", dest=name, action="store_false",
                            help=argparse.SUPPRESS)  # fmt: skip
    parser.names = [*kinds, *ROLE_KEYS, *(field_types(trl[0]) if trl else ()), *CLI_ONLY]
    if help:
        parser.set_defaults(**{k: f"{v} [ours]" for k, v in RUN_DEFAULTS.items()})
    return parser


def _nones(argv: list[str], optional: set[str]) -> tuple[list[str], list[str]]:
    """``argv`` less each ``--option none`` (or ``=none``, ``null``) of an option that takes
    None, and those options' names: TRL's parser reads none as a text or an error."""
    rest, nones, skip = [], [], False
    for i, arg in enumerate(argv):
        option, eq, value = arg.partition("=")
        name = option[2:].replace("-", "_") if option.startswith("--") else ""
        value = value if eq else "".join(argv[i + 1 : i + 2])
        if skip:
            skip = False
        elif name in optional and value.lower() in ("none", "null"):
            nones.append(name)
            skip = not eq
        else:
            rest.append(arg)
    return rest, nones


def parse_flags(argv: list[str], config_class: type) -> tuple[str | None, dict[str, Any]]:
    """``(--config path, field values)`` of the flags given in ``argv``: pipeline fields by
    name, per-role options as ``roles``, TRL options as ``trl``. ``--help`` prints and exits
    (status 0). TRL is imported only when a flag is not a pipeline option, or for ``--help``."""
    kinds = field_types(config_class)
    optional = {k for k, v in kinds.items() if type(None) in typing.get_args(v)} | set(ROLE_KEYS)
    rest, nones = _nones(argv, optional)

    def given(parser: Any) -> tuple[dict[str, Any], list[str]]:  # names start out unset
        unset = object()
        namespace = argparse.Namespace(**dict.fromkeys(parser.names, unset))
        namespace, extra = parser.parse_known_args(rest, namespace)
        return {k: v for k, v in vars(namespace).items() if v is not unset}, extra

    parser = build_parser(config_class)
    values, extra = given(parser)
    if values.get("help") or extra:
        path = values.get("config")
        method = values.get("method") or (read_yaml(path)[0].get("method") if path else None)
        method = method if method in METHODS else config_class.method
        try:
            parser = build_parser(config_class, method=method, help=bool(values.get("help")))
        except ImportError as error:
            if not values.get("help"):
                raise ConfigError(
                    f"unknown option {extra[0]} (TRL options need: {error})"
                ) from None
            parser = build_parser(config_class, help=True)
            parser.epilog = f"TRL options: not listed ({error})"
        if values.get("help"):
            parser.print_help()
            raise SystemExit(0)
        values, extra = given(parser)
    if extra and not extra[0].startswith("-"):
        raise ConfigError(f"unexpected argument {extra[0]!r}: options take the form --name value "
                          "(see --help)")  # fmt: skip
    if extra:
        options = [o for n in parser.names for o in (f"--{n}", f"--{n.replace('_', '-')}")]
        hint = did_you_mean(extra[0].split("=")[0], options)
        raise ConfigError(f"unknown option {extra[0]}{hint}; see --help for the options")
    path = values.get("config")
    values = {k: v for k, v in values.items() if k not in CLI_ONLY} | dict.fromkeys(nones)
    return path, split(values, config_class)


def split(values: Mapping[str, Any], config_class: type) -> dict[str, Any]:
    """Flat option values as the config's fields: pipeline options by name, per-role ones
    under ``roles`` (``{"judge": {"method": ...}}``), TRL's under ``trl``."""
    kinds, roles, trl = field_types(config_class), {}, {}
    fields = {k: v for k, v in values.items() if k in kinds}
    for key, value in values.items():
        if key in ROLE_KEYS:
            roles.setdefault(ROLE_KEYS[key][0], {})[ROLE_KEYS[key][1]] = value
        elif key not in kinds:
            trl[key] = value
    return {**fields, "roles": roles, "trl": trl}
