"""TRL's config object for a run: ``SFTConfig``, ``DPOConfig``, ``GRPOConfig`` or
``OnlineDPOConfig``, built from the configuration and checked by TRL's own dataclass.

Our CPU-safe defaults (the ``trl`` section of
:class:`~langgraph_collab.train.config.CollabTrainConfig`) and what a run needs (no bf16
without a bf16 GPU, ``use_cpu`` without an accelerator, no reporting) apply where the
method's config has the field; the options the data needs come next; a value the user set
(``config.trl``) wins over both. TRL's ``__post_init__`` checks the whole.

Example:
    >>> from langgraph_collab.train.config import CollabTrainConfig
    >>> trl_config_class("dpo").__name__
    'DPOConfig'
    >>> config = CollabTrainConfig(method="dpo", trl={"lr_scheduler_type": "cosine"})
    >>> trainer_args(config, output_dir="runs/x").lr_scheduler_type.value  # doctest: +SKIP
    'cosine'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langgraph_collab.train.cli import ConfigError, check_trl_options, field_types, trl_classes
from langgraph_collab.train.config import CollabTrainConfig, trl_section
from langgraph_collab.train.langsmith_logs import without_langsmith

RENAMED = {"gradient_checkpointing": "activation_checkpointing"}
"""Our field -> the name transformers 5 gives it, used when the TRL config has the new one."""


def trl_config_class(method: str) -> type:
    """The installed TRL's config dataclass for ``method``."""
    return trl_classes(method)[0]


def trl_trainer_class(method: str) -> type:
    """The installed TRL's trainer class for ``method``."""
    return trl_classes(method)[1]


def has_accelerator() -> bool:
    import torch

    accel = getattr(torch, "accelerator", None)
    return bool(accel.is_available()) if accel is not None else torch.cuda.is_available()


def our_defaults(config: CollabTrainConfig, *, output_dir: str | Path) -> dict[str, Any]:
    """The values we give TRL before the user's: the ``trl`` section and what a CPU run needs."""
    import torch

    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    values = {name: getattr(config, name) for name in trl_section()}
    return values | {
        "output_dir": str(output_dir), "max_steps": config.max_steps or -1, "seed": config.seed,
        "bf16": bool(bf16 if config.bf16 is None else config.bf16),
        "use_cpu": not has_accelerator(), "report_to": "none", "save_strategy": "steps",
        "dataloader_num_workers": 0, "max_new_tokens": config.max_completion_length,
        "include_num_input_tokens_seen": "non_padding" if config.method in ("sft", "dpo") else "no",
    }  # fmt: skip


def trainer_args(
    config: CollabTrainConfig, *, output_dir: str | Path, defaults: Mapping[str, Any] | None = None
) -> Any:
    """The TRL config object for ``config.method``: our defaults where the class has the
    field, then ``defaults`` (what the data needs, such as SFT's assistant-only loss), then
    every user value of ``config.trl`` (an unknown name is a :class:`ConfigError`)."""
    config_class = trl_config_class(config.method)
    fields = field_types(config_class)
    ours = {RENAMED.get(k, k) if RENAMED.get(k) in fields else k: v
            for k, v in our_defaults(config, output_dir=output_dir).items()}  # fmt: skip
    ours = {k: v for k, v in ours.items() if k in fields}  # ours apply where TRL has them
    names = [f.name for f in dataclasses.fields(CollabTrainConfig)]
    reported, _ = without_langsmith(config.trl)  # ours, not a transformers integration
    user = check_trl_options(config.method, reported, source="trl", ours=names)
    try:
        return config_class(**{**ours, **(defaults or {}), **user})
    except ValueError as error:  # TRL's own __post_init__ checks
        raise ConfigError(
            f"TRL's {config_class.__name__} rejected the options: {error} (fix the value named)"
        ) from error
