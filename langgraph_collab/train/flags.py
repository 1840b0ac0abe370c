"""The command line of ``python -m langgraph_collab.train``: the pipeline's options and every
field of the method's TRL config, as two groups of flags.

The pipeline's flags come from :class:`~langgraph_collab.train.config.CollabTrainConfig`
(one group per section, plus ``--<role>-<option>`` for the per-role model options). TRL's
come from the installed TRL's config class for ``--method`` (the actions TRL's own CLI
builds with ``HfArgumentParser``), imported only when a flag is not a pipeline option or
``--help`` is asked. Flags default to "not given" (``argparse.SUPPRESS``), so that only the
flags on the command line override the YAML file.

Example:
    >>> path, given = parse_flags(["--method", "sft", "--judge-method", "text"])
    >>> path, given
    (None, {'method': 'sft', 'roles': {'judge': {'method': 'text'}}, 'trl': {}})
"""

from __future__ import annotations

import argparse
import json
import typing
from typing import Any

from langgraph_collab.train.config import (
    METHODS,
    SECTIONS,
    CollabTrainConfig,
    ConfigError,
    base_type,
    did_you_mean,
    field_types,
    option_fields,
    read_mapping,
    read_yaml_file,
    trl_section,
)
from langgraph_collab.train.roles import JUDGE_METHODS, METHOD_HELP, role_keys

PROG = "python -m langgraph_collab.train"
HIDDEN = argparse.SUPPRESS  # underscore twins and --no-X stay out of --help


def _parse_none(kind: Any) -> Any:
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


def _parse_json(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(
            f"expected a JSON object such as '{{\"top_k\": 20}}', got {text!r} ({error.msg})"
        ) from error
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


_parse_json.__name__ = "JSON object"


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`ConfigError` (one line, a did-you-mean for a mistyped
    option) instead of printing usage and exiting."""

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


def _add(group: Any, name: str, annotation: Any, help: str, **extra: Any) -> None:
    """``--dashed-name`` (shown) and ``--name`` (hidden), ``--no-X`` for booleans."""
    kind, optional = base_type(annotation)
    parse = {bool: _parse_bool, dict: _parse_json}.get(kind, kind)
    options: dict[str, Any] = {"dest": name, "type": _parse_none(parse) if optional else parse}
    options |= {"metavar": "JSON" if kind is dict else kind.__name__.upper(), **extra}
    if kind is bool:
        options |= {"nargs": "?", "const": True}
    dashed = name.replace("_", "-")
    group.add_argument(f"--{dashed}", **options, help=help)
    if dashed != name:
        group.add_argument(f"--{name}", **options, help=HIDDEN)
    for spelling in {dashed, name} if kind is bool else ():
        group.add_argument(f"--no-{spelling}", dest=name, action="store_false", help=HIDDEN)


def _shown(value: Any) -> str:
    return "none" if value is None else str(value)


def build_parser(*, method: str | None = None, prog: str = PROG) -> argparse.ArgumentParser:
    """The CLI parser: ``--config``, the pipeline's groups, and with ``method`` the group
    of the method's TRL config (else only the TRL fields whose defaults are ours)."""
    parser = _Parser(
        prog=prog,
        usage="%(prog)s [-h] [--config PATH] [--OPTION VALUE ...]",
        description="Collect MR-scored conversations, export TRL datasets, train with TRL and "
        "evaluate: CollabLLM as a LangGraph pipeline. Flags override --config YAML (a flat "
        "file of the same names), which overrides the defaults shown. Every --dashed-option "
        "also takes --underscored_option spelling; booleans take --X, --X false or --no-X.",
        argument_default=argparse.SUPPRESS,
        allow_abbrev=False,
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="store_true", help="Show this help and exit.")
    parser.add_argument("--config", metavar="PATH", help="YAML file of option: value pairs.")
    parser.add_argument("--debug", action="store_true", help="On a failure, show the traceback.")
    parser.add_argument(
        "--show-training-example",
        type=int,
        metavar="N",
        help="Print the first N training examples of --method sft or dpo as TRL tokenizes "
        'them, one JSON line each: {"trained": the decoded tokens that carry loss, '
        '"ignored": the decoded rest}; then exit without training. Reads the dataset the '
        "train stage would (--dataset, else the run's export).",
    )
    types = field_types()
    for section in [s for s in SECTIONS if s != "trl"]:  # ours of TRL: in the TRL group
        group = parser.add_argument_group(f"pipeline: {section}")
        for f in option_fields(section):
            about = f"{f.metadata['help']} (default: {_shown(f.default)})"
            _add(group, f.name, types[f.name], about)
    group = parser.add_argument_group(
        "pipeline: roles",
        "Per-role model options, each overriding the shared one of the models section for one "
        "role (user, assistant, judge, future_assistant; the policy takes max_tokens).",
    )
    helps = {f.name: f.metadata["help"] for f in option_fields("models")}
    for key, (role, option) in role_keys().items():
        if option == "method":
            _add(group, key, str, METHOD_HELP + " (default: auto)", choices=JUDGE_METHODS)
        else:
            _add(group, key, types[option] | None, f"{role}: {helps[option]}")
    if method is None:
        for name in trl_section():
            _add(group, name, types[name], HIDDEN)
    else:
        _add_trl_group(parser, method)
    return parser


def _add_trl_group(parser: argparse.ArgumentParser, method: str) -> None:
    """Every field of the method's TRL config as flags: ours (section ``trl``) with our
    defaults, the others as TRL's CLI defines them, with TRL's help and defaults."""
    from langgraph_collab.train.trl_args import RUN_DEFAULTS, trl_actions, trl_config_class

    config_class = trl_config_class(method)
    group = parser.add_argument_group(
        f"TRL: {config_class.__name__} (--method {method}; --method X --help lists X's)",
        "Every field of TRL's config for the method, checked by TRL. Ours set CPU-safe "
        "defaults (marked [ours]); the others keep TRL's. output_dir and seed are the "
        "pipeline's; TRL's debug is set in the YAML file only (--debug is ours). Lists "
        "take several values (--loss-type sigmoid sft).",
    )
    types, ours = field_types(), {f.name: f for f in option_fields("trl")}
    pipeline = {f.name for f in option_fields()} | set(role_keys()) | {"help", "config", "debug"}
    for action in trl_actions(config_class):
        name = action.dest
        if name in ours:
            f = ours.pop(name)
            _add(group, name, types[name], f"{f.metadata['help']} (default: {f.default}) [ours]")
        elif name not in pipeline and action.nargs == 0:  # HfArgumentParser's --no_X
            dashed = name.replace("_", "-")
            for spelling in {f"--no-{dashed}", f"--no_{name}"}:
                group.add_argument(spelling, dest=name, action="store_false", help=HIDDEN)
        elif name not in pipeline:
            about = (action.help or "").replace("%", "%%")
            metavar = None if action.choices else "X"
            options = {"dest": name, "type": action.type, "nargs": action.nargs,
                       "choices": action.choices, "metavar": metavar}  # fmt: skip
            options |= {"const": action.const} if action.nargs == "?" else {}
            default = f"{_shown(action.default)})"
            default = f"{RUN_DEFAULTS[name]}) [ours]" if name in RUN_DEFAULTS else default
            group.add_argument(f"--{name.replace('_', '-')}", **options,
                               help=f"{about} (default: {default}")  # fmt: skip
            if "_" in name:
                group.add_argument(f"--{name}", **options, help=HIDDEN)
    for name, f in ours.items():  # ours that this method's config has not: kept, said so
        note = f"not a {config_class.__name__} field: other methods"
        _add(group, name, types[name], f"{f.metadata['help']} (default: {f.default}; {note})")


def _method(given: dict[str, Any]) -> str:
    """The method the TRL flags belong to: ``--method``, else the file's, else the default."""
    method = given.get("method")
    if method is None and given.get("config"):
        method = read_mapping(*read_yaml_file(given["config"])).get("method")
    return method if method in METHODS else CollabTrainConfig.method


def parse_flags(argv: list[str]) -> tuple[str | None, dict[str, Any]]:
    """``(--config path, field values)`` from ``argv``: pipeline fields by name, per-role
    options as ``roles``, TRL options as ``trl``. ``--help`` prints and exits (status 0).

    TRL is imported only when a flag is not a pipeline option, or for ``--help``.
    """
    parser = build_parser()
    parsed, extra = parser.parse_known_args(argv)
    given = vars(parsed)
    if given.get("help") or extra:
        try:
            parser = build_parser(method=_method(given))
        except ImportError as error:
            if given.get("help"):
                parser.print_help()
                print(f"\nTRL options: not listed ({error})")
                raise SystemExit(0) from None
            raise ConfigError(f"unknown option {extra[0]} (TRL options need: {error})") from error
        if given.get("help"):
            parser.print_help()
            raise SystemExit(0)
        given = vars(parser.parse_args(argv))
    path = given.pop("config", None)
    given.pop("debug", None)
    given.pop("show_training_example", None)  # the CLI's, not the run's
    fields = {f.name for f in option_fields()}
    roles: dict[str, dict[str, Any]] = {}
    for key, (role, option) in role_keys().items():
        if key in given:
            roles.setdefault(role, {})[option] = given.pop(key)
    values = {k: v for k, v in given.items() if k in fields}
    trl = {k: v for k, v in given.items() if k not in fields}
    return path, {**values, "roles": roles, "trl": trl}
