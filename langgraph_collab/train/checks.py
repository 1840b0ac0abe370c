"""The checks on a training configuration's values, and the names they check against:
stages, methods, the per-role model options (``<role>_<option>``).

They are ours, not TRL's: TRL's parser reads a flag into its field's type, but whether a
shard index fits the shard count, or a role that runs the embedded model can take an API
option, is the pipeline's to say. Each problem is one line, ``name=value: what to do``;
:meth:`CollabTrainConfig.validate <langgraph_collab.train.config.CollabTrainConfig.validate>`
raises them all at once. This module imports no other module of the package's ``train``, so
the configuration and the command line can both use it.

Example:
    >>> from langgraph_collab.train.config import CollabTrainConfig
    >>> problems(CollabTrainConfig(method="dop"))  # doctest: +ELLIPSIS
    ["method='dop': unknown method; use one of sft, ... (did you mean 'dpo'?)"]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from langgraph_collab.options_check import did_you_mean, number, share, whole
from langgraph_collab.roles.structured import METHODS as JUDGE_METHODS

STAGES = ("collect", "export", "train", "evaluate", "report")
METHODS = ("sft", "dpo", "grpo", "online_dpo")
COMPARE = ("base", "proactive", "trained")
SHARED = ("base_url", "api_key_env", "api_key", "timeout", "max_tokens", "extra_body",
          "model_kwargs")  # fmt: skip
"""The options every API role takes: fields of the ``models`` section, overridable per role."""
OPTIONS: dict[str, tuple[str, ...]] = {
    "user": SHARED,
    "assistant": SHARED,
    "judge": (*SHARED, "method"),
    "future_assistant": SHARED,
    "policy": ("max_tokens",),
}
ROLE_KEYS = {
    f"{role}_{option}": (role, option) for role, opts in OPTIONS.items() for option in opts
}
"""``{"judge_max_tokens": ("judge", "max_tokens"), ...}``: every flat per-role key."""


def split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def is_local(spec: str) -> bool:
    return spec == "local" or spec.startswith("local:")


def spec_of(role: str, config: Any) -> str:
    return config.policy if role == "policy" else getattr(config, role)


def problems(c: Any) -> list[str]:
    """Every problem of ``c`` (a ``CollabTrainConfig``), one line each."""
    out: list[str | None] = []

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
    positive = ["max_tokens", "candidates", "samples", "max_concurrent_tasks", "max_model_calls",
                "per_device_train_batch_size", "gradient_accumulation_steps", "lora_r",
                "max_length", "max_completion_length", "logging_steps", "save_steps",
                "eval_max_turns"]  # fmt: skip
    out += [whole(name, getattr(c, name), minimum=1) for name in positive]
    for name in ("train_limit", "eval_limit", "max_steps", "save_total_limit"):
        value = getattr(c, name)
        need(value is None or value >= 1, name, "must be at least 1, or none")
    for name in ("learning_rate", "num_train_epochs", "lora_alpha", "temperature"):
        need(getattr(c, name) > 0, name, "must be positive")
    for name, value in vars(c).items():
        need(not isinstance(value, float) or math.isfinite(value), name, "must be a finite number")
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
    kl = c.method in ("dpo", "online_dpo")
    need(
        c.beta > 0 if kl else c.beta >= 0,
        "beta",
        f"{c.method} needs beta > 0" if kl else "must be >= 0",
    )
    if c.method == "online_dpo":
        fits = c.max_completion_length < c.max_length
        need(fits, "max_completion_length", "must be below max_length for online DPO")
    if c.method == "dpo" and "collect" in c.stage_list and c.dataset is None:
        need(c.candidates >= 2, "candidates", "DPO pairs need >= 2 candidates per turn")
    if c.dataset is not None:
        need(bool(set(c.stage_list) - {"collect", "export"}) or not c.stage_list, "dataset",
             "--dataset replaces the collect and export stages, so these stages do nothing: "
             "add train (e.g. --stages train,evaluate,report) or drop --dataset")  # fmt: skip
    out.append(number("timeout", c.timeout, positive=True, optional=True, why=" seconds"))
    need(c.adaptive_z is None or c.adaptive_z > 0, "adaptive_z", "must be positive, or none")
    need(c.api_key is None or c.api_key_env is None, "api_key", "give api_key or api_key_env")
    shadowed = sorted(set(c.trl) & set(vars(c)))
    need(not shadowed, "trl", f"{shadowed} are pipeline options: set them as fields, not in trl")
    return [p for p in out if p] + shard_problems(c) + role_problems(c)


def shard_problems(c: Any) -> list[str]:
    """The problems of the collection's split: shard values out of range, a shard run with
    stages other than collect, ``workers`` together with ``num_shards``."""
    out = []
    if c.num_shards < 1:
        out.append(f"num_shards={c.num_shards!r}: must be at least 1")
    elif not 0 <= c.shard_index < c.num_shards:
        out.append(f"shard_index={c.shard_index!r}: must be in 0..{c.num_shards - 1} "
                   f"(num_shards={c.num_shards})")  # fmt: skip
    if c.workers < 1:
        out.append(f"workers={c.workers!r}: must be at least 1 (1: collect in this process)")
    if c.num_shards > 1 and c.stage_list != ["collect"]:
        out.append(f"num_shards={c.num_shards}: a shard runs the collect stage only: add "
                   "--stages collect, then merge the shards with --stages "
                   "export,train,evaluate,report")  # fmt: skip
    if c.num_shards > 1 and c.workers > 1:
        out.append(f"workers={c.workers}: --workers runs its own shards; give --workers or "
                   "--num-shards / --shard-index, not both")  # fmt: skip
    return out


def role_problems(c: Any) -> list[str]:
    """The problems of ``c.roles``: unknown roles or options, values out of range, options
    that an embedded (local) model or the policy cannot take."""
    out = []
    for role, options in c.roles.items():
        if role not in OPTIONS or not isinstance(options, dict):
            hint = did_you_mean(str(role), list(OPTIONS))
            out.append(f"roles[{role!r}]: not a role with options{hint}; roles: {list(OPTIONS)}")
            continue
        for option, value in options.items():
            key = f"{role}_{option}"
            if key not in ROLE_KEYS:
                out.append(f"{key}: unknown role option{did_you_mean(key, list(ROLE_KEYS))}")
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
        api_only = sorted(set(options) & set(OPTIONS[role]) - {"max_tokens", "method"})
        if role != "policy" and (is_local(spec) or spec == "policy") and api_only:
            also = " and judge_method" if role == "judge" else ""
            out.append(f"{role}_{api_only[0]}: {role} is {spec!r}, not an API model; its "
                       f"options are {role}_max_tokens{also}")  # fmt: skip
    return out
