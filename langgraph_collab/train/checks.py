"""The checks on a training configuration: the keys and values of a YAML file, every
value, and options that conflict.

:meth:`CollabTrainConfig.validate <langgraph_collab.train.config.CollabTrainConfig.validate>`
raises them all at once as one :class:`~langgraph_collab.train.config.ConfigError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph_collab.train.config import (
    COMPARE,
    LIST_OPTIONS,
    METHODS,
    SECTIONS,
    STAGES,
    CollabTrainConfig,
    ConfigError,
    base_type,
    did_you_mean,
    split_list,
)


def problems(c: CollabTrainConfig) -> list[str]:
    """Every problem of ``c``, one line each: the field, its value and what to do.

    Example:
        >>> problems(CollabTrainConfig(method="dop"))  # doctest: +ELLIPSIS
        ["method='dop': unknown method; use one of sft, ... (did you mean 'dpo'?)"]
    """
    out: list[str] = []

    def need(ok: bool, name: str, message: str) -> None:
        if not ok:
            out.append(f"{name}={getattr(c, name)!r}: {message}")

    def choices(name: str, allowed: Sequence[str]) -> None:
        items = split_list(getattr(c, name))
        unknown = [item for item in items if item not in allowed]
        need(bool(items), name, f"give at least one of {', '.join(allowed)}")
        hint = did_you_mean(unknown[0], allowed) if unknown else ""
        need(not unknown, name, f"unknown {unknown}; choose among {', '.join(allowed)}{hint}")
        need(len(set(items)) == len(items), name, "remove the repeated entries")

    plain = bool(c.name.strip()) and not {"/", "\\"} & set(c.name) and c.name not in (".", "..")
    need(plain, "name", "use a plain folder name, without slashes")
    choices("stages", STAGES)
    choices("compare", COMPARE)
    hint = did_you_mean(c.method, METHODS)
    need(c.method in METHODS, "method", f"unknown method; use one of {', '.join(METHODS)}{hint}")
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
    for f in dataclasses.fields(c):
        value = getattr(c, f.name)
        if isinstance(value, float):
            need(math.isfinite(value), f.name, "must be a finite number")
    need(c.seed >= 0, "seed", "must be >= 0")
    need(c.window >= 0, "window", "must be >= 0 (0 scores the candidate alone)")
    need(0.0 <= c.proactive_share <= 1.0, "proactive_share", "must be in [0, 1]")
    need(c.min_gap >= 0, "min_gap", "must be >= 0 (0 keeps every pair with different texts)")
    need(0.0 <= c.lora_dropout < 1.0, "lora_dropout", "must be in [0, 1)")
    need(bool(split_list(c.lora_target_modules)), "lora_target_modules", "name at least one module")
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
    if c.dataset is not None:
        left = set(c.stage_list) - {"collect", "export"}
        need(
            bool(left) or not c.stage_list,
            "dataset",
            "--dataset replaces the collect and export stages, so these stages do nothing: "
            "add train (e.g. --stages train,evaluate,report) or drop --dataset",
        )
    return out


EXAMPLES = {int: "a whole number such as 20", float: "a number such as 0.5",
            bool: "true or false", str: "a text (quote it if it looks like a number)"}  # fmt: skip


def coerce(name: str, value: Any, annotation: Any, source: str = "<yaml>") -> Any:
    """A YAML value checked against the field's type (ints widen to floats, lists join).

    Example:
        >>> coerce("max_steps", "1e3", int | None)
        Traceback (most recent call last):
        ...
        langgraph_collab.train.config.ConfigError: <yaml>: config key 'max_steps': expected ...
    """
    kind, optional = base_type(annotation)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null")):
        if optional:
            return None
        raise ConfigError(
            f"{source}: config key {name!r}: must not be empty (expected {kind.__name__}): "
            f"give {EXAMPLES[kind]}, or remove the key for its default"
        )
    if name in LIST_OPTIONS and isinstance(value, list) and all(isinstance(v, str) for v in value):
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
            f"{source}: config key {name!r}: expected {kind.__name__}"
            f"{' or none' if optional else ''}, got {type(value).__name__} {value!r}: give "
            f"{EXAMPLES[kind]}{' or none' if optional else ''}"
        )
    return float(value) if kind is float else value


def check_keys(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The file's keys as field names (dashes read as underscores), each one known."""
    known = {f.name for f in dataclasses.fields(CollabTrainConfig)}
    out = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name in SECTIONS and isinstance(value, dict):
            raise ConfigError(
                f"{source}: key {key!r}: sections are not nested in the file; write the "
                f"options under {key!r} at the top level (e.g. '{next(iter(value), 'x')}: ...')"
            )
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{source}: unknown key {key!r}{hint} (see --help for the keys)")
        out[name] = value
    return out
