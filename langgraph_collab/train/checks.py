"""The checks on a training configuration: the keys and values of a YAML file, every
value (per-role model options included), and options that conflict.

:meth:`CollabTrainConfig.validate <langgraph_collab.train.config.CollabTrainConfig.validate>`
raises them all at once as one :class:`~langgraph_collab.train.config.ConfigError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph_collab.options_check import number, share, whole
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
    field_types,
    option_fields,
    split_list,
)
from langgraph_collab.train.roles import JUDGE_METHODS, OPTIONS, is_local, role_keys, spec_of


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
    out += [whole(name, getattr(c, name), minimum=1) for name in positive]
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
    out.append(whole("window", c.window, minimum=0, why=" (0 scores the candidate alone)"))
    out.append(share("proactive_share", c.proactive_share))
    need(c.min_gap >= 0, "min_gap", "must be >= 0 (0 keeps every pair with different texts)")
    need(0.0 <= c.lora_dropout < 1.0, "lora_dropout", "must be in [0, 1)")
    need(bool(split_list(c.lora_target_modules)), "lora_target_modules", "name at least one module")
    out.append(
        whole("max_messages", c.max_messages, minimum=2, why=" (a user message and a reply)")
    )
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
    out.append(number("timeout", c.timeout, positive=True, optional=True, why=" seconds"))
    need(c.adaptive_z is None or c.adaptive_z > 0, "adaptive_z", "must be positive, or none")
    out += shard_problems(c)
    need(c.api_key is None or c.api_key_env is None, "api_key", "give api_key or api_key_env")
    ours = {f.name for f in option_fields()}
    shadowed = sorted(ours & set(c.trl))
    need(not shadowed, "trl", f"{shadowed} are pipeline options: set them as fields, not in trl")
    return [problem for problem in out if problem] + role_problems(c)


def shard_problems(c: CollabTrainConfig) -> list[str]:
    """The problems of the collection's split: shard values out of range, a shard run with
    stages other than collect, ``workers`` together with ``num_shards``.

    Example:
        >>> shard_problems(CollabTrainConfig(num_shards=4, shard_index=4, stages="collect"))
        ['shard_index=4: must be in 0..3 (num_shards=4)']
    """
    out = []
    if c.num_shards < 1:
        out.append(f"num_shards={c.num_shards!r}: must be at least 1")
    elif not 0 <= c.shard_index < c.num_shards:
        out.append(f"shard_index={c.shard_index!r}: must be in 0..{c.num_shards - 1} "
                   f"(num_shards={c.num_shards})")  # fmt: skip
    if c.workers < 1:
        out.append(f"workers={c.workers!r}: must be at least 1 (1: collect in this process)")
    if c.num_shards > 1 and c.stage_list != ["collect"]:
        out.append(
            f"num_shards={c.num_shards}: a shard runs the collect stage only: add --stages "
            "collect, then merge the shards with --stages export,train,evaluate,report"
        )
    if c.num_shards > 1 and c.workers > 1:
        out.append(
            f"workers={c.workers}: --workers runs its own shards; give --workers or "
            "--num-shards / --shard-index, not both"
        )
    return out


def role_problems(c: CollabTrainConfig) -> list[str]:
    """The problems of ``c.roles``: unknown roles or options, values out of range, options
    that an embedded (local) model or the policy cannot take.

    Example:
        >>> role_problems(CollabTrainConfig(roles={"judge": {"methd": "text"}}))
        ["judge_methd: unknown role option (did you mean 'judge_method'?)"]
    """
    out = []
    keys = role_keys()
    for role, options in c.roles.items():
        if role not in OPTIONS or not isinstance(options, dict):
            hint = did_you_mean(str(role), list(OPTIONS))
            out.append(f"roles[{role!r}]: not a role with options{hint}; roles: {list(OPTIONS)}")
            continue
        for option, value in options.items():
            key = f"{role}_{option}"
            if key not in keys:
                out.append(f"{key}: unknown role option{did_you_mean(key, list(keys))}")
            elif value is None and option in ("base_url", "timeout", "extra_body", "model_kwargs"):
                continue  # none: not this role, whatever the shared option says
            elif option == "method" and value not in JUDGE_METHODS:
                hint = did_you_mean(str(value), JUDGE_METHODS)
                out.append(f"{key}={value!r}: use one of {', '.join(JUDGE_METHODS)}{hint}")
            elif option == "max_tokens" and not (isinstance(value, int) and value >= 1):
                out.append(f"{key}={value!r}: must be at least 1")
            elif option == "timeout" and not (isinstance(value, int | float) and value > 0):
                out.append(f"{key}={value!r}: must be positive seconds")
            elif option == "base_url" and not str(value).startswith(("http://", "https://")):
                out.append(f"{key}={value!r}: give a URL such as http://localhost:8000/v1")
        if {"api_key", "api_key_env"} <= set(options):
            out.append(f"{role}_api_key: give {role}_api_key or {role}_api_key_env, not both")
        spec = spec_of(role, c)
        if role != "policy" and (is_local(spec) or spec == "policy"):
            api_only = sorted(set(options) & set(OPTIONS[role]) - {"max_tokens", "method"})
            if api_only:
                out.append(
                    f"{role}_{api_only[0]}: {role} is {spec!r}, not an API model; its options "
                    f"are {role}_max_tokens{' and judge_method' if role == 'judge' else ''}"
                )
    return out


EXAMPLES = {int: "a whole number such as 20", float: "a number such as 0.5",
            bool: "true or false", str: "a text (quote it if it looks like a number)",
            dict: "a mapping such as {top_k: 20}"}  # fmt: skip


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
        dict: isinstance(value, dict) and all(isinstance(k, str) for k in value),
    }[kind]
    if not ok:
        raise ConfigError(
            f"{source}: config key {name!r}: expected {kind.__name__}"
            f"{' or none' if optional else ''}, got {type(value).__name__} {value!r}: give "
            f"{EXAMPLES[kind]}{' or none' if optional else ''}"
        )
    return float(value) if kind is float else value


def split_keys(
    values: Mapping[str, Any], source: str, *, method: str | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
    """A flat file's keys (dashes read as underscores) split into ``(pipeline fields,
    roles, TRL options)``, each value checked against its type; a key that is neither a
    pipeline option nor a role option is checked as a field of the method's TRL config
    (``method`` if given, else the file's, else the default), with did-you-mean.

    Example:
        >>> split_keys({"max-steps": 3, "judge_method": "text"}, "run.yaml")
        ({'max_steps': 3}, {'judge': {'method': 'text'}}, {})
    """
    from langgraph_collab.train.trl_args import check_trl_options

    types, roles_by_key = field_types(), role_keys()
    known = {f.name for f in option_fields()}
    fields: dict[str, Any] = {}
    roles: dict[str, dict[str, Any]] = {}
    others: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if (name in SECTIONS or name in ("roles", "trl")) and isinstance(value, dict):
            raise ConfigError(
                f"{source}: key {key!r}: sections are not nested in the file; write the "
                f"options under {key!r} at the top level (e.g. '{next(iter(value), 'x')}: ...')"
            )
        if name in known:
            fields[name] = coerce(name, value, types[name], source)
        elif name in roles_by_key:
            role, option = roles_by_key[name]
            kind = str if option == "method" else types[option]
            roles.setdefault(role, {})[option] = coerce(name, value, kind, source)
        else:
            others[name] = value
    method = method or fields.get("method") or CollabTrainConfig.method
    if others and method in METHODS:  # an unknown method is reported by validate()
        names = [*known, *roles_by_key]
        others = check_trl_options(method, others, source=source, our_names=names)
    return fields, roles, others
