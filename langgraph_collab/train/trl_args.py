"""TRL's side of the configuration: every field of the method's TRL config (``SFTConfig``,
``DPOConfig``, ``GRPOConfig``, ``OnlineDPOConfig``), checked by TRL's own dataclasses.

The fields are read from the installed TRL, never listed here. A value from YAML is checked
against the field's annotation (a string is converted the way TRL's CLI converts a flag);
flags go through the argparse actions TRL's ``HfArgumentParser`` builds; the TRL config
object itself, built by :func:`trainer_args`, runs TRL's own ``__post_init__`` checks. Our
CPU-safe defaults (the ``trl`` section of :class:`CollabTrainConfig`) apply where the
method's config has the field; a value the user set (``config.trl``) wins over ours.

Example:
    >>> from langgraph_collab.train.config import CollabTrainConfig
    >>> config = CollabTrainConfig(method="dpo", trl={"lr_scheduler_type": "cosine"})
    >>> trainer_args(config, output_dir="runs/x").lr_scheduler_type.value  # doctest: +SKIP
    'cosine'
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph_collab.roles.models import INSTALL_TRAIN
from langgraph_collab.train.config import ConfigError

if TYPE_CHECKING:
    import argparse

    from langgraph_collab.train.config import CollabTrainConfig

RUN_DEFAULTS = {"use_cpu": "on without an accelerator", "report_to": "none",
                "save_strategy": "steps", "dataloader_num_workers": "0",
                "include_num_input_tokens_seen": "non_padding for sft and dpo",
                "max_new_tokens": "max_completion_length"}  # fmt: skip
"""TRL fields :func:`our_defaults` sets for every run beyond the ``trl`` section, as --help
shows them."""
RENAMED = {"gradient_checkpointing": "activation_checkpointing"}
"""Our field -> the name transformers 5 gives it, used when the TRL config has the new one."""


def trl_config_class(method: str) -> type:
    """The installed TRL's config dataclass for ``method``.

    Example:
        >>> trl_config_class("dpo").__name__  # doctest: +SKIP
        'DPOConfig'
    """
    return _trl_classes(method)[0]


def trl_trainer_class(method: str) -> type:
    """The installed TRL's trainer class for ``method``."""
    return _trl_classes(method)[1]


def _trl_classes(method: str) -> tuple[type, type]:
    try:
        import trl
    except ImportError as error:
        raise ImportError(f"Training needs the train extra: {INSTALL_TRAIN}") from error
    if method == "sft":
        return trl.SFTConfig, trl.SFTTrainer
    if method == "dpo":
        return trl.DPOConfig, trl.DPOTrainer
    if method == "grpo":
        return trl.GRPOConfig, trl.GRPOTrainer
    try:  # TRL 1.x moved online DPO to trl.experimental
        from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer
    except ImportError as error:
        raise RuntimeError(
            f"method='online_dpo' needs trl.experimental.online_dpo, which TRL {trl.__version__} "
            "does not have; use --method grpo (MR as its reward) instead"
        ) from error
    return OnlineDPOConfig, OnlineDPOTrainer


@functools.cache
def trl_fields(config_class: type) -> dict[str, Any]:
    """``{field name: resolved annotation}`` of a TRL config class, in declaration order."""
    hints = typing.get_type_hints(config_class)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_class) if f.init}


def trl_actions(config_class: type) -> list[argparse.Action]:
    """The argparse actions TRL's CLI builds for ``config_class`` (``HfArgumentParser``)."""
    from transformers import HfArgumentParser

    return [a for a in HfArgumentParser(config_class)._actions if a.option_strings[0] != "-h"]


# ---------------------------------------------------------------------- checking YAML values


def _fits(value: Any, annotation: Any) -> bool:
    """Whether ``value`` (from YAML) is an instance of a dataclass field's ``annotation``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return True
    if annotation is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return isinstance(value, annotation) or value in [e.value for e in annotation]
    if origin in (list, tuple):
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value) if args else True
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(origin or annotation, type):
        return isinstance(value, origin or annotation)
    return True


def _members(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


def _convert(value: Any, annotation: Any) -> Any:
    """``value`` made to fit ``annotation`` the way TRL's CLI reads a flag (a string to a
    number or a bool, one item to a list), or returned unchanged when nothing fits."""
    if _fits(value, annotation):
        return value
    for member in _members(annotation):
        if typing.get_origin(member) is list and not isinstance(value, list):
            item = _convert(value, typing.get_args(member)[0])
            if _fits([item], member):
                return [item]
        if isinstance(value, str) and member in (int, float):
            try:
                return member(value)
            except ValueError:
                continue
        if isinstance(value, str) and member is bool and value.lower() in ("true", "false"):
            return value.lower() == "true"
    return value


def _choices(annotation: Any) -> list[Any]:
    out: list[Any] = []
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, enum.Enum):
            out += [e.value for e in member]
        if typing.get_origin(member) is typing.Literal:
            out += list(typing.get_args(member))
    return out


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("transformers.trainer_utils.", "")


def check_trl_options(
    method: str, values: Mapping[str, Any], *, source: str, our_names: Iterable[str] = ()
) -> dict[str, Any]:
    """``values`` checked against the method's TRL config: each name a field of it (else a
    :class:`ConfigError` with did-you-mean among ``our_names`` and TRL's), each value of the
    field's type; enum values become their plain value, so the result is plain data.

    Example:
        >>> check_trl_options("dpo", {"warmup_ratio": 0.1}, source="run.yaml")  # doctest: +SKIP
        Traceback (most recent call last):
        ConfigError: run.yaml: unknown key 'warmup_ratio'; did you mean 'warmup_steps'? ...
    """
    try:
        config_class = trl_config_class(method)
    except (ImportError, RuntimeError) as error:
        name = next(iter(values))
        hint = suggest(name, our_names)
        raise ConfigError(
            f"{source}: unknown key {name!r}{hint}: not a pipeline option, and TRL's options "
            f"cannot be checked ({error})"
        ) from error
    fields = trl_fields(config_class)
    out = {}
    for name, value in values.items():
        if name not in fields:
            hint = suggest(name, [*our_names, *fields], config_class)
            raise ConfigError(
                f"{source}: unknown key {name!r}{hint} (not a pipeline option nor a field of "
                f"{config_class.__name__} for method {method}; see --help for the keys)"
            )
        converted = _convert(value, fields[name])
        allowed = _choices(fields[name])  # an enum or str field takes the enum's values only
        outside = allowed and converted is not None and converted not in allowed
        if not _fits(converted, fields[name]) or outside:
            expected = f"one of {allowed}" if allowed else _type_name(fields[name])
            hint = suggest(str(value), [str(c) for c in allowed]) if allowed else ""
            raise ConfigError(
                f"{source}: TRL option {name!r} ({config_class.__name__}): expected {expected}, "
                f"got {type(value).__name__} {value!r}{hint}"
            )
        out[name] = converted.value if isinstance(converted, enum.Enum) else converted
    return out


def suggest(name: str, names: Iterable[str], config_class: type | None = None) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``names``, with TRL's help of the field
    when it is one (so a renamed field says what its new name does), or ``""``."""
    close = difflib.get_close_matches(name, list(names), n=1)
    if not close:
        return ""
    fields = {f.name: f for f in dataclasses.fields(config_class)} if config_class else {}
    about = fields[close[0]].metadata.get("help", "") if close[0] in fields else ""
    about = f" (TRL: {about[:160].rstrip()}{'...' if len(about) > 160 else ''})" if about else ""
    return f"; did you mean {close[0]!r}?{about}"


# ---------------------------------------------------------------------- the TRL config object


def has_accelerator() -> bool:
    import torch

    accel = getattr(torch, "accelerator", None)
    return bool(accel.is_available()) if accel is not None else torch.cuda.is_available()


def our_defaults(config: CollabTrainConfig, *, output_dir: str | Path) -> dict[str, Any]:
    """The values we give TRL before the user's: the config's ``trl`` section and what a
    CPU run needs (no bf16 without a bf16 GPU, ``use_cpu`` without an accelerator, no
    reporting, no dataloader workers, tokens counted)."""
    import torch

    from langgraph_collab.train.config import trl_section

    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    values = {name: getattr(config, name) for name in trl_section()}
    values |= {
        "output_dir": str(output_dir), "max_steps": config.max_steps or -1, "seed": config.seed,
        "bf16": bool(bf16 if config.bf16 is None else config.bf16),
        "use_cpu": not has_accelerator(), "report_to": "none", "save_strategy": "steps",
        "dataloader_num_workers": 0, "max_new_tokens": config.max_completion_length,
        "include_num_input_tokens_seen": "non_padding" if config.method in ("sft", "dpo") else "no",
    }  # fmt: skip
    return values


def trainer_args(
    config: CollabTrainConfig, *, output_dir: str | Path, defaults: Mapping[str, Any] | None = None
) -> Any:
    """The TRL config object (``SFTConfig``, ``DPOConfig``...) for ``config.method``: our
    defaults where the class has the field, then ``defaults`` (the options the data needs,
    such as SFT's assistant-only loss), then every user value of ``config.trl`` (an
    unknown name is a :class:`ConfigError`; TRL's own checks raise ``ValueError``).

    Example:
        >>> from langgraph_collab.train.config import CollabTrainConfig
        >>> config = CollabTrainConfig(beta=0.3, trl={"loss_type": ["ipo"]})
        >>> args = trainer_args(config, output_dir="x")  # doctest: +SKIP
        >>> args.beta, args.loss_type  # doctest: +SKIP
        (0.3, ['ipo'])
    """
    from langgraph_collab.train.config import CollabTrainConfig
    from langgraph_collab.train.langsmith_logs import without_langsmith

    config_class = trl_config_class(config.method)
    fields = trl_fields(config_class)
    ours = {RENAMED.get(k, k) if RENAMED.get(k) in fields else k: v
            for k, v in our_defaults(config, output_dir=output_dir).items()}  # fmt: skip
    ours = {k: v for k, v in ours.items() if k in fields}  # ours apply where TRL has them
    names = [f.name for f in dataclasses.fields(CollabTrainConfig)]
    reported, _ = without_langsmith(config.trl)  # ours, not a transformers integration
    user = check_trl_options(config.method, reported, source="trl", our_names=names)
    try:
        return config_class(**{**ours, **(defaults or {}), **user})
    except ValueError as error:  # TRL's own __post_init__ checks
        raise ConfigError(
            f"TRL's {config_class.__name__} rejected the options: {error} (fix the value named)"
        ) from error
