"""The command line and the YAML file of ``python -m langgraph_collab.train``, on
transformers' ``HfArgumentParser`` (the parser under TRL's ``TrlParser``).

The parser makes each field of the configuration's section dataclasses, of the per-role
options and of the method's TRL config class (``SFTConfig``, ``DPOConfig``...) a flag, the way
TRL's own scripts do: ``--learning-rate`` or ``--learning_rate``, ``--lora false`` or
``--no-lora``, lists as several values, TRL's choices and help, one help group per dataclass.
What stays ours, because ``TrlParser.parse_args_and_config`` cannot do it:

- the YAML file is read here: TRL's reads it with no line number for a syntax error, keeps
  the last of a key given twice, and sets its values as argparse defaults unchecked, so a
  wrong type would reach the run; :func:`split_keys` checks each key and value instead;
- a bad flag is a :class:`ConfigError` (one line, a did-you-mean for an unknown option),
  not argparse's usage text and exit;
- only the flags given are returned, so they override the file key by key, and a TRL option
  the user set is told apart from TRL's default (ours apply otherwise);
- TRL is imported only when a flag is not a pipeline option, or for ``--help``;
- ``none`` is read as None for the pipeline's optional values.

Example:
    >>> from langgraph_collab.train.config import CollabTrainConfig
    >>> parse_flags(["--method", "sft", "--judge-method", "text"], CollabTrainConfig)
    (None, {'method': 'sft', 'roles': {'judge': {'method': 'text'}}, 'trl': {}})
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

PROG = "python -m langgraph_collab.train"
LIST_OPTIONS = ("stages", "compare", "lora_target_modules")  # comma-separated; YAML lists too
EXAMPLES = {int: "a whole number such as 20", float: "a number such as 0.5", bool: "true or false",
            str: "a text (quote it if it looks like a number)", dict: "a mapping such as {top_k: 20}"}  # fmt: skip
RUN_DEFAULTS = {"use_cpu": "on without an accelerator", "report_to": "none",
                "save_strategy": "steps", "dataloader_num_workers": "0",
                "include_num_input_tokens_seen": "non_padding for sft and dpo",
                "max_new_tokens": "max_completion_length"}  # fmt: skip
"""TRL fields the run sets beyond the ``trl`` section, as ``--help`` shows them."""


class ConfigError(ValueError):
    """A configuration value or key is wrong; the message says which and what to do."""


# ---------------------------------------------------------------------- TRL's config classes


def trl_classes(method: str) -> tuple[type, type]:
    """``(config class, trainer class)`` of the installed TRL for ``method``."""
    from langgraph_collab.models import INSTALL_TRAIN

    try:
        import trl
    except ImportError as error:
        raise ImportError(f"Training needs the train extra: {INSTALL_TRAIN}") from error
    if method in ("sft", "dpo", "grpo"):
        name = method.upper()
        return getattr(trl, f"{name}Config"), getattr(trl, f"{name}Trainer")
    try:  # TRL 1.x moved online DPO to trl.experimental
        from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer
    except ImportError as error:
        raise RuntimeError(
            f"method='online_dpo' needs trl.experimental.online_dpo, which TRL {trl.__version__} "
            "does not have; use --method grpo (MR as its reward) instead"
        ) from error
    return OnlineDPOConfig, OnlineDPOTrainer


def trl_fields(config_class: type) -> dict[str, Any]:
    """``{field name: resolved annotation}`` of a dataclass, in declaration order."""
    hints = typing.get_type_hints(config_class)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_class) if f.init}


# ---------------------------------------------------------------------- YAML


def read_yaml(path: str | Path) -> tuple[dict[str, Any], str]:
    """``(mapping, source)`` of a flat YAML file, or a :class:`ConfigError` naming the file
    (and the line, for a syntax error or a key given twice)."""
    import yaml

    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(f"--config {path} is a folder: give a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path} (working folder {Path.cwd()}): check "
                          "the path, or write one with CollabTrainConfig().to_yaml(path)")  # fmt: skip
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
                          "write one 'option: value' per line; quote values holding ': ' or ' #'"
                          ) from error  # fmt: skip
    if data is None:
        raise ConfigError(f"{path}: the file is empty (no options): write 'option: value' lines "
                          "(see --help), or drop --config to run the demo defaults")  # fmt: skip
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of option: value, got a YAML "
                          f"{type(data).__name__}: write one 'option: value' per line, e.g. "
                          "'method: dpo'")  # fmt: skip
    return data, str(path)


def _members(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


def _fit(value: Any, kind: Any) -> tuple[bool, Any]:
    """``(fits, value)``: ``value`` read as ``kind`` the way the flag parser reads a flag (a
    text to a number or a bool, an int to a float, one item to a list, an enum to its value)."""
    origin, args = typing.get_origin(kind) or kind, typing.get_args(kind)
    if kind is Any:
        return True, value
    if origin is typing.Literal or (isinstance(kind, type) and issubclass(kind, enum.Enum)):
        allowed = args if origin is typing.Literal else [e.value for e in kind]
        value = value.value if isinstance(value, enum.Enum) else value
        return value in allowed, value
    if origin is list:
        items = [_fit(v, args[0] if args else Any) for v in (value if isinstance(value, list) else [value])]
        return all(ok for ok, _ in items), [v for _, v in items]
    if origin in (int, float) and isinstance(value, str):
        try:
            value = origin(value)
        except ValueError:
            return False, value
    if origin is bool and isinstance(value, str) and value.lower() in ("true", "false"):
        return True, value.lower() == "true"
    if origin in (int, float) and isinstance(value, bool):
        return False, value
    if origin is float and isinstance(value, int):
        return True, float(value)
    return (isinstance(value, origin), value) if isinstance(origin, type) else (True, value)


def check_value(name: str, value: Any, annotation: Any, *, source: str, label: str = "") -> Any:
    """``value`` (from YAML) made to fit the field's ``annotation``, or a :class:`ConfigError`
    saying what the field takes.

    Example:
        >>> check_value("max_steps", "1e3", int | None, source="run.yaml")
        Traceback (most recent call last):
        ...
        langgraph_collab.train.cli.ConfigError: run.yaml: config key 'max_steps': expected int or none, got str '1e3': give a whole number such as 20 or none
    """  # noqa: E501
    label = label or f"config key {name!r}"
    members = [m for m in _members(annotation) if m is not type(None)]
    optional = len(members) < len(_members(annotation))
    if value is None and optional:
        return None
    if value is None:
        raise ConfigError(f"{source}: {label}: must not be empty (expected "
                          f"{annotation.__name__}): give {EXAMPLES.get(annotation, 'a value')}, "
                          "or remove the key for its default")  # fmt: skip
    if name in LIST_OPTIONS and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    allowed = [choice for m in members for choice in _choices(m)]  # str | Enum: the enum's
    for member in members:
        ok, fitted = _fit(value, member)
        if ok and (not allowed or fitted in allowed):
            return fitted
    none = " or none" if optional else ""
    if allowed:
        expected, hint = f"one of {allowed}", did_you_mean(str(value), [str(a) for a in allowed])
    else:
        expected = " or ".join(getattr(m, "__name__", str(m)) for m in members) + none
        hint = " or ".join(EXAMPLES[m] for m in members if m in EXAMPLES)
        hint = f": give {hint}{none}" if hint else ""
    raise ConfigError(f"{source}: {label}: expected {expected}, got "
                      f"{type(value).__name__} {value!r}{hint}")  # fmt: skip


def _choices(kind: Any) -> list[Any]:
    if typing.get_origin(kind) is typing.Literal:
        return list(typing.get_args(kind))
    return [e.value for e in kind] if isinstance(kind, type) and issubclass(kind, enum.Enum) else []


def split_keys(
    values: Mapping[str, Any], source: str, config_class: type, *, method: str | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
    """A flat file's keys (dashes read as underscores) split into ``(pipeline fields,
    roles, TRL options)``, each value checked against its field; a key that is neither a
    pipeline option nor a role option must be a field of the method's TRL config (``method``
    if given, else the file's, else the default), else a did-you-mean.

    Example:
        >>> from langgraph_collab.train.config import CollabTrainConfig
        >>> split_keys({"max-steps": 3, "judge_method": "text"}, "run.yaml", CollabTrainConfig)
        ({'max_steps': 3}, {'judge': {'method': 'text'}}, {})
    """
    ours = {k: v for k, v in trl_fields(config_class).items() if k not in ("roles", "trl")}
    nested = {"roles", "trl", *(s._argument_group_name[10:] for s in sections(config_class))}
    fields: dict[str, Any] = {}
    roles: dict[str, dict[str, Any]] = {}
    others: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if isinstance(value, dict) and name in nested:
            raise ConfigError(f"{source}: key {key!r}: sections are not nested in the file; write "
                              f"the options under {key!r} at the top level (e.g. "
                              f"'{next(iter(value), 'x')}: ...')")  # fmt: skip
        if name in ours:
            fields[name] = check_value(name, value, ours[name], source=source)
        elif name in ROLE_KEYS:
            role, option = ROLE_KEYS[name]
            kind = str if option == "method" else ours[option]
            roles.setdefault(role, {})[option] = check_value(name, value, kind, source=source)
        else:
            others[name] = value
    method = method or fields.get("method") or config_class.method
    if others and method in METHODS:  # an unknown method is reported by validate()
        others = check_trl_options(method, others, source=source, ours=[*ours, *ROLE_KEYS])
    return fields, roles, others


def check_trl_options(
    method: str, values: Mapping[str, Any], *, source: str, ours: list[str] = ()
) -> dict[str, Any]:
    """``values`` checked against the method's TRL config: each name one of its fields (else
    a did-you-mean among ``ours`` and TRL's), each value of the field's type, plain data."""
    try:
        config_class = trl_classes(method)[0]
    except (ImportError, RuntimeError) as error:
        name = next(iter(values))
        raise ConfigError(f"{source}: unknown key {name!r}{suggest(name, ours)}: not a pipeline "
                          f"option, and TRL's options cannot be checked ({error})") from error  # fmt: skip
    fields, of = trl_fields(config_class), config_class.__name__
    for name in values:
        if name not in fields:
            raise ConfigError(f"{source}: unknown key {name!r}{suggest(name, [*ours, *fields], config_class)} "
                              f"(not a pipeline option nor a field of {of} for method {method}; "
                              "see --help for the keys)")  # fmt: skip
    return {k: check_value(k, v, fields[k], source=source, label=f"TRL option {k!r} ({of})")
            for k, v in values.items()}  # fmt: skip


def suggest(name: str, names: list[str], config_class: type | None = None) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``names``, with TRL's help of the field
    when it is one (so a renamed field says what its new name does), or ``""``."""
    close = difflib.get_close_matches(name, names, n=1)
    if not close:
        return ""
    fields = {f.name: f for f in dataclasses.fields(config_class)} if config_class else {}
    about = fields[close[0]].metadata.get("help", "") if close[0] in fields else ""
    about = f" (TRL: {about[:160].rstrip()}{'...' if len(about) > 160 else ''})" if about else ""
    return f"; did you mean {close[0]!r}?{about}"


# ---------------------------------------------------------------------- flags


def sections(config_class: type) -> list[type]:
    """The section dataclasses ``config_class`` is made of, in order: one ``--help`` group
    each (``_argument_group_name``, as ``HfArgumentParser`` reads it)."""
    return [c for c in reversed(config_class.__mro__) if "_argument_group_name" in vars(c)]


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"top_k\": 20}}', "
                                         f"got {text!r} ({error.msg})") from error  # fmt: skip
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


CLI_ONLY = ("help", "config", "debug", "show_training_example")


def build_parser(config_class: type, *, method: str | None = None, help: bool = False) -> Any:
    """``HfArgumentParser`` over the method's TRL config (when ``method`` is given), the
    sections of ``config_class`` and the per-role options; ours win where a name is both.
    With ``help``, the defaults shown are those the run applies."""
    from transformers import HfArgumentParser

    class Parser(HfArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise ConfigError(f"{message} (see --help)")

    kinds = trl_fields(config_class)
    about = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(config_class)}
    role_fields = [(key, (str if option == "method" else kinds[option]) | None, dataclasses.field(
        default=None, metadata={"help": f"{role}: {about[option]}"} if option != "method" else
        {"help": "Structured-output method of the judge (default: auto).", "choices": JUDGE_METHODS}))
        for key, (role, option) in ROLE_KEYS.items()]  # fmt: skip
    roles = dataclasses.make_dataclass("Roles", role_fields,
                                       namespace={"_argument_group_name": "pipeline: roles"})
    trl = []
    if method is not None:
        cls = trl_classes(method)[0]
        title = f"TRL: {cls.__name__} (--method {method}; --method X --help lists X's)"
        trl = [type(cls.__name__, (cls,), {"_argument_group_name": title})]
    parser = Parser(
        [*trl, *sections(config_class), roles], prog=PROG, allow_abbrev=False, add_help=False,
        conflict_handler="resolve", usage="%(prog)s [-h] [--config PATH] [--OPTION VALUE ...]",
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
    parser.add_argument("--show-training-example", type=int, metavar="N", help="Print the first "
                        "N training examples of --method sft or dpo as TRL tokenizes them, one JSON "
                        'line each: {"trained": the decoded tokens that carry loss, "ignored": the '
                        "decoded rest}; then exit without training. Reads the dataset the train "
                        "stage would (--dataset, else the run's export).")  # fmt: skip
    names = [*kinds, *ROLE_KEYS, *(trl_fields(trl[0]) if trl else ()), *CLI_ONLY]
    parser.names = names
    if help:
        parser.set_defaults(**{k: f"{v} [ours]" for k, v in RUN_DEFAULTS.items()})
    return parser


def _given(parser: Any, argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The options ``argv`` gives (none of the defaults) and the strings left over: every
    name starts out unset, and argparse leaves a name that is set alone."""
    unset = object()
    namespace = argparse.Namespace(**dict.fromkeys(parser.names, unset))
    namespace, extra = parser.parse_known_args(argv, namespace)
    return {k: v for k, v in vars(namespace).items() if v is not unset}, extra


def _nones(argv: list[str], optional: set[str]) -> tuple[list[str], list[str]]:
    """``argv`` less the optional options given ``none`` (or ``null``), and their names."""
    out, nones, i = [], [], 0
    while i < len(argv):
        option, eq, value = argv[i].partition("=")
        name = option[2:].replace("-", "_") if option.startswith("--") else ""
        step = 1 if eq else 2
        value = value if eq else (argv[i + 1] if i + 1 < len(argv) else "")
        if name in optional and value.lower() in ("none", "null"):
            nones.append(name)
            i += step
        else:
            out.append(argv[i])
            i += 1
    return out, nones


def parse_flags(argv: list[str], config_class: type) -> tuple[str | None, dict[str, Any]]:
    """``(--config path, field values)`` of the flags given in ``argv``: pipeline fields by
    name, per-role options as ``roles``, TRL options as ``trl``. ``--help`` prints and exits
    (status 0). TRL is imported only when a flag is not a pipeline option, or for ``--help``."""
    kinds = {k: v for k, v in trl_fields(config_class).items() if k not in ("roles", "trl")}
    optional = {k for k, v in kinds.items() if type(None) in _members(v)} | set(ROLE_KEYS)
    argv, nones = _nones(list(argv), optional)
    parser = build_parser(config_class)
    given, extra = _given(parser, argv)
    if given.get("help") or extra:
        method = given.get("method") or (
            read_yaml(given["config"])[0].get("method") if given.get("config") else None
        )
        method = method if method in METHODS else config_class.method
        try:
            parser = build_parser(config_class, method=method, help=bool(given.get("help")))
        except ImportError as error:
            if not given.get("help"):
                raise ConfigError(f"unknown option {extra[0]} (TRL options need: {error})") from error
            parser = build_parser(config_class, help=True)
            parser.epilog = f"TRL options: not listed ({error})"
        if given.get("help"):
            parser.print_help()
            raise SystemExit(0)
        given, extra = _given(parser, argv)
    if extra and not extra[0].startswith("-"):
        raise ConfigError(f"unexpected argument {extra[0]!r}: options take the form --name value "
                          "(see --help)")  # fmt: skip
    if extra:
        options = [o for n in parser.names for o in {f"--{n}", f"--{n.replace('_', '-')}"}]
        hint = did_you_mean(extra[0].split("=")[0], options)
        raise ConfigError(f"unknown option {extra[0]}{hint}; see --help for the options")
    path = given.pop("config", None)
    given = {k: v for k, v in given.items() if k not in CLI_ONLY} | dict.fromkeys(nones)
    roles: dict[str, dict[str, Any]] = {}
    for key in [k for k in given if k in ROLE_KEYS]:
        role, option = ROLE_KEYS[key]
        roles.setdefault(role, {})[option] = given.pop(key)
    fields = {k: v for k, v in given.items() if k in kinds}
    return path, {**fields, "roles": roles, "trl": {k: v for k, v in given.items() if k not in kinds}}
