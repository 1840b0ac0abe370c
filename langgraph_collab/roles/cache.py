"""An opt-in cache of identical model calls, for temperature-0 judges and re-scoring.

LangChain's own mechanism, as the community uses it: a chat model's ``cache`` field holds a
``BaseCache`` that ``BaseChatModel`` asks before each call and fills after it. The key is
the prompt (the messages, serialised, ids removed) and the model's ``llm_string``: for a
serialisable model (``ChatOpenAI``, ``ChatAnthropic``...) its class and every setting it was
built with (model name, endpoint, temperature, max_tokens, extra_body...), then the call's
own parameters (stop, bound tools, ``response_format``, a bound temperature); :func:`cached`
adds the endpoint its SDK client resolved, however it was set (``base_url=`` or the
environment's ``OPENAI_BASE_URL``). For a model
LangChain cannot serialise (``ChatLlamaCpp``, ``ChatTransformers``, test doubles), whose
``llm_string`` names little more than its type, :func:`cached` adds the class and every
plain-data field (path, temperature, max_tokens, seed...) to the key.

A hit still opens and closes a run (callbacks fire, LangSmith shows it) and returns the
stored reply with its original ``usage_metadata`` (LangChain sets ``total_cost`` to 0).
Ours also marks it: ``generation_info["cache_hit"]`` (what
:class:`~langgraph_collab.tracing.UsageLedger` reads: it counts a cache hit, not a call,
and no tokens) and ``response_metadata["cache_hit"]`` on the message the caller gets. Hits
of other ``BaseCache`` implementations carry no such mark and count as calls.

Only greedy models are cached unless asked: a cache replays the first reply for every
later identical call, so a sampled simulated user or assistant would give S identical
forward samples, and MR would lose the spread it averages over. :func:`cached` refuses a
model whose temperature is above 0 or unset (providers then sample at their default, 1.0
for OpenAI and Anthropic) unless ``allow_sampling=True``.

Not cached, by LangChain's design or ours: errors (a failed call is asked again); a
``.stream()`` of a model that streams natively (LangChain skips the cache there);
identical calls in flight at once (each misses and calls the model; the first stored
reply is kept). A reply is cached before the role parses it; a role that could not use a
reply (:class:`~langgraph_collab.errors.MalformedReply`) retries under
:func:`fresh_calls`: the retry asks the model, never the cache, and its reply replaces
the stored one, so a malformed reply is neither replayed to the retries nor kept. The
key does not hold a model's weights: never cache a model whose weights change (a policy
in training).

Example:
    >>> from langgraph_collab.roles.cache import cached, create_call_cache
    >>> from langgraph_collab.testing import ScriptedChatModel
    >>> judge = cached(ScriptedChatModel(script=["A"]), create_call_cache(), allow_sampling=True)
    >>> judge.invoke("grade this").content, judge.invoke("grade this").response_metadata
    ('A', {'cache_hit': True})
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables.base import RunnableBindingBase

from langgraph_collab.roles._cache_store import (
    CACHE_HIT,
    CallCacheFileError,
    MemoryCallCache,
    SQLiteCallCache,
)


def create_call_cache(
    path: str | Path | None = None, *, max_entries: int | None = None
) -> BaseCache:
    """A cache of identical model calls: in memory for this process, or kept in the
    SQLite file ``path`` (created with its folder if absent) across runs and processes.

    Attach it with :func:`cached`; a ``BaseCache``, it also goes wherever LangChain takes
    one (``init_chat_model(..., cache=...)``), without :func:`cached`'s checks.

    Args:
        path: SQLite file to keep the replies in; ``None`` keeps them in memory.
        max_entries: keep at most this many replies, dropping the oldest written first;
            ``None`` keeps them all.

    Raises:
        CallCacheFileError: ``path`` is a folder, not SQLite, corrupt or another
            program's database (the file is left untouched).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from langgraph_collab.testing import ScriptedChatModel
        >>> cache = create_call_cache(Path(tempfile.mkdtemp()) / "judge.sqlite")
        >>> judge = cached(ScriptedChatModel(script=["A", "B"]), cache, allow_sampling=True)
        >>> [judge.invoke("grade this").content for _ in range(2)]
        ['A', 'A']
    """
    if max_entries is not None and (isinstance(max_entries, bool) or max_entries < 1):
        raise ValueError(f"max_entries must be at least 1 (or None: no limit), got {max_entries!r}")
    if path is None:
        return MemoryCallCache(max_entries=max_entries)
    return SQLiteCallCache(path, max_entries=max_entries)


# ---------------------------------------------------------------------- attaching


def cached(
    model: BaseChatModel | RunnableBindingBase,
    cache: BaseCache | str | Path,
    *,
    allow_sampling: bool = False,
) -> BaseChatModel | RunnableBindingBase:
    """A copy of the chat ``model`` whose identical calls are answered by ``cache`` (a
    ``BaseCache``, or a file path for :func:`create_call_cache`). ``model`` itself is
    left as it was; the copy shares its client. A model bound with ``.bind(...)`` /
    ``.with_config(...)`` / ``.with_retry()`` stays bound. Attach the cache before
    ``create_judge`` or ``with_structured_output``: the copy then goes anywhere a model
    goes, and models sharing one cache never mix replies (the key names the model).

    A model that loads lazily (``ChatLlamaCpp``) loads once per copy: use the copy in
    every role that uses the model.

    Raises:
        TypeError: ``model`` is not a chat model (a callable, an agent graph, a spec
            string, a structured-output chain or a judge built by ``create_judge``).
        ValueError: ``model`` samples (temperature above 0 or unset) and
            ``allow_sampling`` is False: replaying one sample for every call would
            collapse forward samples into one.

    Example:
        >>> from langchain_openai import ChatOpenAI
        >>> judge = ChatOpenAI(model="gpt-4o-mini", temperature=0, api_key="sk-...")
        >>> cached(judge, create_call_cache()).cache.identity, judge.cache
        ('{"endpoint": "https://api.openai.com/v1/"}', None)
    """
    if isinstance(cache, str | Path):
        cache = create_call_cache(cache)
    elif not isinstance(cache, BaseCache):
        raise TypeError(
            f"cache must be a langchain_core BaseCache (create_call_cache()) or a file path, "
            f"not {type(cache).__name__}"
        )
    return _attach(model, cache, allow_sampling=allow_sampling, bound={})


def _attach(model: Any, cache: BaseCache, *, allow_sampling: bool, bound: dict) -> Any:
    if isinstance(model, RunnableBindingBase):
        kwargs = {**model.kwargs, **bound}  # an outer binding's arguments win
        inner = _attach(model.bound, cache, allow_sampling=allow_sampling, bound=kwargs)
        return model.model_copy(update={"bound": inner})
    if not isinstance(model, BaseChatModel):
        what = repr(model) if isinstance(model, str) else type(model).__name__
        raise TypeError(
            f"cached() takes a LangChain chat model, not {what}: a callable, an agent graph "
            "or a judge's chain has no single model call to cache. Attach the cache to the "
            "chat model inside, first: create_judge(cached(model, cache)); a spec string: "
            "cached(load_chat_model(spec, temperature=0), cache)"
        )
    if not allow_sampling:
        _refuse_sampling(model, bound)
    identity = _identity(model)
    view = _KeyedCache(cache, identity) if identity else cache
    return model.model_copy(update={"cache": view})


def _temperature(model: BaseChatModel, bound: dict | None = None) -> Any:
    """The temperature a call of ``model`` asks for: a bound one, else the request body's
    (``extra_body``, ``model_kwargs``), else the model's; ``None`` when none is set."""
    for source in (bound, getattr(model, "extra_body", None), getattr(model, "model_kwargs", None)):
        if isinstance(source, dict) and source.get("temperature") is not None:
            return source["temperature"]
    return getattr(model, "temperature", None)


def _refuse_sampling(model: BaseChatModel, bound: dict) -> None:
    temperature = _temperature(model, bound)
    name = type(model).__name__
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        if temperature == 0:
            return
        why = f"{name} samples (temperature={temperature})"
    else:
        why = (
            f"{name} sets no temperature (a provider then samples at its default: 1.0 for "
            "OpenAI and Anthropic)"
        )
    raise ValueError(
        f"cached(): {why}. A cache replays the first reply for every identical call, so a "
        "sampled role would give one forward sample S times and bias MR. Cache greedy "
        "models (a judge with temperature=0), or pass allow_sampling=True to replay one "
        "sample on purpose"
    )


def _identity(model: BaseChatModel) -> str:
    """What the key adds to LangChain's ``llm_string``: for a serialisable model (whose
    ``llm_string`` holds every setting it was given) the endpoint its SDK client resolved,
    when it has one; else its class and plain-data fields."""
    if model.is_lc_serializable():
        endpoint = _endpoint(model)
        return json.dumps({"endpoint": endpoint}) if endpoint else ""
    kind = type(model)
    base = BaseChatModel.model_fields
    fields = {name: _plain(getattr(model, name)) for name in kind.model_fields if name not in base}
    about = {"class": f"{kind.__module__}.{kind.__qualname__}", "fields": fields}
    return json.dumps(about, sort_keys=True)


def _endpoint(model: BaseChatModel) -> str | None:
    """The base URL of the model's SDK client (``root_client`` of ``ChatOpenAI`` and its
    kin, ``_client`` of ``ChatAnthropic``), as the SDK resolved it: an endpoint set only
    through the environment (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``) is in no setting
    of the model, so not in its ``llm_string``."""
    for name in ("root_client", "_client"):
        base_url = getattr(getattr(model, name, None), "base_url", None)
        if base_url is not None:
            return str(base_url)
    return None


def _plain(value: Any) -> Any:
    """``value`` as JSON data; a function or class by its qualified name; any other object
    by its type (its contents, a client's or a torch module's, are not part of the key)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Path):
        return str(value)
    name = getattr(value, "__qualname__", None)
    if isinstance(name, str):
        return f"{getattr(value, '__module__', '')}.{name}"
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


_FRESH: ContextVar[bool] = ContextVar("langgraph_collab_fresh_calls", default=False)


@contextmanager
def fresh_calls(on: bool = True) -> Iterator[None]:
    """Within this block (``on``), cached models skip the cache and their replies replace
    the stored ones: how a role retries after a reply it could not use.

    Example:
        >>> from langgraph_collab.testing import ScriptedChatModel
        >>> model = cached(ScriptedChatModel(script=["bad", "good"]), create_call_cache(),
        ...                allow_sampling=True)
        >>> model.invoke("q").content
        'bad'
        >>> with fresh_calls():
        ...     model.invoke("q").content
        'good'
        >>> model.invoke("q").content
        'good'
    """
    token = _FRESH.set(on or _FRESH.get())
    try:
        yield
    finally:
        _FRESH.reset(token)


class _KeyedCache(BaseCache):
    """``cache`` seen by one model: its identity joins every ``llm_string``; under
    :func:`fresh_calls` lookups miss and updates replace."""

    def __init__(self, cache: BaseCache, identity: str) -> None:
        self.cache, self.identity = cache, identity

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        if _FRESH.get():
            return None
        return self.cache.lookup(prompt, f"{self.identity}---{llm_string}")

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        key = f"{self.identity}---{llm_string}"
        if _FRESH.get() and isinstance(self.cache, MemoryCallCache | SQLiteCallCache):
            self.cache.replace(prompt, key, return_val)
        else:
            self.cache.update(prompt, key, return_val)

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        if _FRESH.get():
            return None
        return await self.cache.alookup(prompt, f"{self.identity}---{llm_string}")

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        if _FRESH.get():  # rare (a retry): the store's own thread hop is fine
            await asyncio.to_thread(self.update, prompt, llm_string, return_val)
        else:
            await self.cache.aupdate(prompt, f"{self.identity}---{llm_string}", return_val)

    def clear(self, **kwargs: Any) -> None:
        """Clears the whole shared cache, every model's replies."""
        self.cache.clear(**kwargs)


__all__ = [
    "CACHE_HIT",
    "CallCacheFileError",
    "MemoryCallCache",
    "SQLiteCallCache",
    "cached",
    "create_call_cache",
    "fresh_calls",
]
