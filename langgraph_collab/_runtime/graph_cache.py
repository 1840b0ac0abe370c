"""Compiled graphs reused: building and compiling a graph costs far more than running a
short one, and an MR is computed once per turn with the same roles and options.

A graph is kept under a key of its options' values; parts that are not plain values
(models, callables) are keyed by identity and kept alive with the entry, so an id is
never reused while its entry exists. The last 32 graphs are kept. A compiled graph is safe
to share between concurrent runs.

Example:
    >>> built = []
    >>> def build():
    ...     built.append(1)
    ...     return object()
    >>> cached_graph(("demo", 1), build) is cached_graph(("demo", 1), build), len(built)
    (True, 1)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

G = TypeVar("G")

_GRAPHS: OrderedDict[Hashable, tuple[Any, tuple]] = OrderedDict()
_LOCK = threading.Lock()
_KEPT = 32


def value_key(value: Any) -> Hashable:
    """A hashable key for ``value``, equal for equal values: mappings by their sorted items,
    tuples item by item, hashable values by value (a function's hash is its identity),
    anything else (a chat model, a guard holding a dict) by identity: keep such a value
    alive with the entry (``keep``), so its id is not reused.

    Example:
        >>> value_key({"b": 1, "a": 2}) == value_key({"a": 2, "b": 1})
        True
    """
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), value_key(v)) for k, v in value.items()))
    if isinstance(value, tuple):
        return tuple(value_key(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return (type(value), id(value))
    return (type(value), value)


def cached_graph(key: Hashable, build: Callable[[], G], *, keep: tuple = ()) -> G:
    """The graph cached under ``key``, built by ``build()`` the first time; ``keep`` holds
    the objects whose identities the key uses."""
    with _LOCK:
        if key in _GRAPHS:
            _GRAPHS.move_to_end(key)
            return _GRAPHS[key][0]
    graph = build()
    with _LOCK:
        _GRAPHS[key] = (graph, keep)
        while len(_GRAPHS) > _KEPT:
            _GRAPHS.popitem(last=False)
    return graph


def clear() -> None:
    """Forget every cached graph (tests that count compilations)."""
    with _LOCK:
        _GRAPHS.clear()


__all__ = ["cached_graph", "clear", "value_key"]
