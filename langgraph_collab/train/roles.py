"""Per-role model options and the role models of a training run.

Every API role takes the shared options of the ``models`` section (``base_url``,
``api_key_env``, ``max_tokens``...); ``<role>_<option>`` overrides one for one role, in YAML
and flags alike (``judge_method: function_calling``, ``--judge-max-tokens 512``). Roles:
``user``, ``assistant``, ``judge``, ``future_assistant`` (GRPO / online DPO futures) and
``policy`` (the trained model as a chat model: ``max_tokens`` only). The options go to
:func:`~langgraph_collab.roles.models.load_chat_model`, which also sends the reply limit the way
OpenAI-compatible servers read it.

Example:
    >>> from langgraph_collab.train.config import CollabTrainConfig
    >>> config = CollabTrainConfig(judge="openai:m", base_url="http://h:8080/v1",
    ...                            roles={"judge": {"max_tokens": 512, "timeout": 60.0}})
    >>> options = model_options("judge", config)
    >>> options["max_tokens"], options["timeout"], options["base_url"]
    (512, 60.0, 'http://h:8080/v1')
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from langgraph_collab.train.checks import SHARED, is_local, spec_of

if TYPE_CHECKING:
    from langgraph_collab.train.config import CollabTrainConfig


def settings(role: str, config: CollabTrainConfig) -> dict[str, Any]:
    """The role's options: the shared ones, the policy's when the policy plays the role,
    then the role's own; an API key given in the role replaces the shared one."""
    out = {name: getattr(config, name) for name in SHARED}
    layers = [config.roles.get("policy", {})] if spec_of(role, config) == "policy" else []
    for layer in [*layers, config.roles.get(role, {})]:
        if {"api_key", "api_key_env"} & set(layer):
            out |= {"api_key": None, "api_key_env": None}
        out |= layer
    return {"method": "auto", **out} if role == "judge" else out


def api_key(role: str, config: CollabTrainConfig) -> str | None:
    """The role's API key: from its ``api_key_env`` variable, else the literal ``api_key``."""
    options = settings(role, config)
    name = options["api_key_env"]
    if name is None:
        return options["api_key"]
    if not os.environ.get(name):
        raise ValueError(
            f"{role}: api_key_env={name!r} names an environment variable that is not set: "
            f"export {name}=<key> before the run, or set {role}_api_key_env / api_key_env"
        )
    return os.environ[name]


def model_options(role: str, config: CollabTrainConfig) -> dict[str, Any]:
    """The keyword options :func:`~langgraph_collab.roles.models.load_chat_model` gets for
    the role."""
    o = settings(role, config)
    options: dict[str, Any] = {"max_tokens": o["max_tokens"]}
    if is_local(spec_of(role, config)):
        return options | {"seed": config.seed}
    key = api_key(role, config)
    if o["base_url"]:
        options |= {"base_url": o["base_url"], "api_key": key or "none"}
    elif key:
        options["api_key"] = key
    options |= {"extra_body": dict(o["extra_body"])} if o["extra_body"] else {}
    options |= {"timeout": o["timeout"]} if o["timeout"] is not None else {}
    options |= {"model_kwargs": dict(o["model_kwargs"])} if o["model_kwargs"] else {}
    return options


def role_models(config: CollabTrainConfig, roles: list[str]) -> dict[str, Any]:
    """A model for each role (the judge wrapped by ``create_judge`` when its method is set);
    roles with the same spec and options share one instance (one embedded model in memory).

    Example:
        >>> models = role_models(config, ["user", "judge"])  # doctest: +SKIP
    """
    from langgraph_collab.roles.judge import create_judge
    from langgraph_collab.roles.models import load_chat_model

    built: dict[str, Any] = {}
    out = {}
    for role in roles:
        spec = spec_of(role, config)
        if spec == "policy":
            key = f"policy {settings(role, config)['max_tokens']}"
            if key not in built:
                built[key] = policy_chat(config, max_tokens=settings(role, config)["max_tokens"])
        else:
            options = model_options(role, config)
            key = f"{spec} {sorted(options.items(), key=str)}"
            if key not in built:
                built[key] = load_chat_model(spec, **options)
        out[role] = built[key]
    method = settings("judge", config)["method"] if "judge" in out else "auto"
    if method != "auto":
        out["judge"] = create_judge(out["judge"], method=method)
    return out


def policy_chat(config: CollabTrainConfig, *, max_tokens: int) -> Any:
    """The base policy as a chat model (``ChatTransformers``)."""
    from langgraph_collab.roles.hf import ChatTransformers

    model, tokenizer = load_policy(config.policy)
    return ChatTransformers(model=model, tokenizer=tokenizer, max_tokens=max_tokens)


def load_policy(spec: str) -> tuple[Any, Any]:
    """The policy's ``(model, tokenizer)``: float32 on CPU, a pad token set."""
    import torch

    from langgraph_collab.roles.trainable import load_trainable_model
    from langgraph_collab.train.trl_args import has_accelerator

    model, tokenizer = load_trainable_model(spec)
    if not has_accelerator() and model.dtype in (torch.float16, torch.bfloat16):
        model = model.float()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
