"""Turn a model spec into a LangChain chat model (a trainable HF model:
:mod:`langgraph_collab.roles.trainable`).

Specs:
    - a ``BaseChatModel`` instance: passes through unchanged (but see below);
    - ``"provider:model"`` (``"openai:gpt-4o-mini"``): ``init_chat_model``, which also takes
      ``base_url=`` for any OpenAI-compatible server (vLLM, Ollama, llama.cpp server), and
      the model's own options (``max_tokens``, ``timeout``, ``extra_body``, ``model_kwargs``);
    - ``"local"``: the embedded SmolLM2-135M-Instruct; ``"local:/path/model.gguf"``: any GGUF.

``cache=`` (a ``BaseCache`` or a file path; :mod:`langgraph_collab.roles.cache`) answers
identical calls from a cache: the model, spec or instance, comes back as
:func:`~langgraph_collab.roles.cache.cached` makes it (a copy; a model that samples is refused).

OpenAI-compatible servers: ``ChatOpenAI`` sends its ``max_tokens`` as
``max_completion_tokens``, which llama-cpp-python's server (and older vLLM and Ollama)
ignore, so replies run on to the context's end. A ``ChatOpenAI`` whose ``base_url`` is not
OpenAI's, spec or instance, therefore also sends the limit as ``max_tokens`` in
``extra_body`` (:func:`for_compatible_server`), unless ``extra_body`` sets one already.

Example:
    >>> from langgraph_collab import load_chat_model
    >>> model = load_chat_model("local", temperature=0.0)  # doctest: +SKIP
    >>> vllm = load_chat_model(
    ...     "openai:Qwen/Qwen2.5-7B-Instruct", base_url="http://localhost:8000/v1", api_key="-"
    ... )  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from langchain_core.caches import BaseCache
from langchain_core.language_models import BaseChatModel

from langgraph_collab.roles.cache import cached
from langgraph_collab.roles.local import load_local_model

ModelSpec = str | BaseChatModel
OWN_RETRY_PROVIDERS = frozenset({"openai", "azure_openai", "anthropic"})
"""Providers whose SDK retries are switched off for models built from a spec (the roles'
own retry policy applies instead; see :mod:`langgraph_collab.errors`)."""
INSTALL_TRAIN = (
    "pip install 'langgraph-collab[train]' (install torch==2.13.0 first on CPU machines)"
)


def local_path(spec: str) -> Path | None:
    """The GGUF path a ``local`` spec names (None for the embedded model).

    Example:
        >>> local_path("local"), local_path("local:/models/qwen.gguf").name
        (None, 'qwen.gguf')
    """
    _, _, rest = spec.partition(":")
    return Path(rest).expanduser() if rest else None


def for_compatible_server(model: BaseChatModel) -> BaseChatModel:
    """``model``, or for a ``ChatOpenAI`` on a server other than OpenAI's with a
    ``max_tokens`` limit, a copy that also sends that limit as ``max_tokens`` (in
    ``extra_body``): the field every OpenAI-compatible server reads.

    Example:
        >>> from langchain_openai import ChatOpenAI
        >>> server = ChatOpenAI(model="smollm2", base_url="http://127.0.0.1:8000/v1",
        ...                     api_key="none", max_tokens=64)
        >>> for_compatible_server(server).extra_body
        {'max_tokens': 64}
        >>> openai = ChatOpenAI(model="gpt-4o-mini", api_key="sk-...", max_tokens=64)
        >>> for_compatible_server(openai).extra_body is None
        True
    """
    module = sys.modules.get("langchain_openai")  # a ChatOpenAI means it is imported
    if module is None or not isinstance(model, module.ChatOpenAI):
        return model
    base_url = model.openai_api_base or os.environ.get("OPENAI_BASE_URL")
    limit, extra = model.max_tokens, model.extra_body or {}
    host = (urlparse(base_url).hostname or "") if base_url else "api.openai.com"
    if limit is None or "max_tokens" in extra or host.endswith("openai.com"):
        return model
    if model.use_responses_api:  # the Responses API has its own field (max_output_tokens)
        return model
    return model.model_copy(update={"extra_body": {**extra, "max_tokens": limit}})


def load_chat_model(spec: ModelSpec, **options: Any) -> BaseChatModel:
    """A LangChain chat model for ``spec`` (see the module docstring for the forms).

    Options go to the model's constructor (``temperature``, ``max_tokens``, ``base_url``,
    ``timeout``, ``extra_body``, ``model_kwargs``...); one the model does not take is a
    ``TypeError``. ``cache=`` (a ``BaseCache`` or a file path, also with an instance)
    returns the model with that call cache attached by :func:`~langgraph_collab.cached`,
    which refuses a model that samples (set ``temperature=0``).

    Example:
        >>> load_chat_model("local:/models/qwen2.5-0.5b-instruct-q4_k_m.gguf")  # doctest: +SKIP
        >>> judge = load_chat_model("openai:gpt-4o-mini", temperature=0,
        ...                         cache="runs/judge-calls.sqlite")  # doctest: +SKIP
    """
    cache = options.pop("cache", None)
    if isinstance(cache, BaseCache | str | Path):
        return cached(load_chat_model(spec, **options), cache)
    if cache is not None:  # LangChain's own values: False (no cache), True (the global one)
        options["cache"] = cache
    if isinstance(spec, BaseChatModel):
        if options:
            raise TypeError("Options cannot be applied to a model instance; configure it directly")
        return for_compatible_server(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise TypeError(
            f"A model spec must be a chat model or a string like 'openai:gpt-4o-mini' or "
            f"'local', not {spec!r}"
        )
    if spec == "local" or spec.startswith("local:"):
        return load_local_model(local_path(spec), **options)
    if ":" not in spec and "base_url" not in options:
        raise ValueError(
            f"Model spec {spec!r} names no provider: write 'provider:model' "
            f"(e.g. 'openai:gpt-4o-mini'), or 'local' for the embedded model"
        )
    from langchain.chat_models import init_chat_model

    if spec.partition(":")[0] in OWN_RETRY_PROVIDERS:
        # The roles retry transient errors themselves (backoff, Retry-After): an SDK that
        # retried too would multiply the requests per failure.
        options.setdefault("max_retries", 0)
    return for_compatible_server(init_chat_model(spec, **options))
