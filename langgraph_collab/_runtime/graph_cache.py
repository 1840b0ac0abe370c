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
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

G = TypeVar("G")

_GRAPHS: OrderedDict[Hashable, tuple[Any, tuple]] = OrderedDict()
_LOCK = threading.Lock()
_KEPT = 32


def by_identity(value: Any) -> tuple:
    """A key part for ``value``: plain values (None, str, numbers) by value, anything else
    by identity (keep ``value`` alive with the entry: pass it in ``keep``)."""
    if value is None or isinstance(value, str | int | float | bool):
        return (type(value), value)
    return (type(value), id(value))


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


__all__ = ["by_identity", "cached_graph", "clear"]
