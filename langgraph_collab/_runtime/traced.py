"""Graph steps and role calls as traced runs, without LangChain's per-call overhead.

``traced`` / ``atraced`` do what ``Runnable._call_with_config`` does for a function that
always takes ``(input, config)``, so no per-call signature inspection; a run that no handler
would hear of (none attached, or each ignores chain runs: usage ledgers, call gates) is not
opened at all. ``Step`` is a lean ``RunnableLambda`` with a sync and an async body.
``benchmarks/framework_cost.py`` measures what this saves per model call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.callbacks import BaseCallbackManager
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
    get_callback_manager_for_config,
    set_config_context,
)
from langchain_core.runnables.utils import coro_with_context

__all__ = ["Step", "atraced", "traced"]

Call = Callable[[Any, RunnableConfig], Any]
ACall = Callable[[Any, RunnableConfig], Awaitable[Any]]


def traced(func: Call, input: Any, config: RunnableConfig | None, *, name: str) -> Any:
    """``func(input, child_config)`` as one traced chain run named ``name`` (or the
    config's ``run_name``), its child runs under it.

    What ``Runnable._call_with_config`` does, minus its per-call signature inspection of
    ``func``: ``func`` always takes ``(input, config)``. Forward sampling makes many short
    calls, so the inspection would be a large share of their framework cost.

    Example:
        >>> traced(lambda x, config: x + 1, 1, None, name="add_one")
        2
    """
    config = ensure_config(config)
    manager = get_callback_manager_for_config(config)
    if _unheard(manager):
        return func(input, _untraced(config))
    run = manager.on_chain_start(
        None, input, name=config.get("run_name") or name, run_id=config.pop("run_id", None)
    )
    child = _child(config, run)
    try:
        with set_config_context(child) as context:
            output = context.run(func, input, child)
    except BaseException as error:
        run.on_chain_error(error)
        raise
    run.on_chain_end(output)
    return output


def _unheard(manager: BaseCallbackManager) -> bool:
    """Whether no handler would hear of a chain run: none is attached, or each ignores
    chains (usage ledgers, call gates). Such a run is skipped: opening and closing it
    costs more CPU than a short turn's own work, and nobody could see it. A tracer, a
    run recorder or ``astream_events`` hears chains, and then every run is opened."""
    return all(handler.ignore_chain for handler in manager.handlers)


def _untraced(config: RunnableConfig) -> RunnableConfig:
    """``config`` for the body of a run: without the run's name and id, which name this
    run, not its children."""
    config = {**config}
    config.pop("run_name", None)
    config.pop("run_id", None)
    return config  # type: ignore[return-value]


def _child(config: RunnableConfig, run: Any) -> RunnableConfig:
    """``patch_config(config, callbacks=run.get_child())`` for an ensured ``config``,
    without ensuring (and so copying its callbacks) once more."""
    return {**_untraced(config), "callbacks": run.get_child()}  # type: ignore[return-value]


async def atraced(afunc: ACall, input: Any, config: RunnableConfig | None, *, name: str) -> Any:
    """Async :func:`traced`."""
    config = ensure_config(config)
    manager = get_async_callback_manager_for_config(config)
    if _unheard(manager):
        return await afunc(input, _untraced(config))
    run = await manager.on_chain_start(
        None, input, name=config.get("run_name") or name, run_id=config.pop("run_id", None)
    )
    child = _child(config, run)
    try:
        with set_config_context(child) as context:
            output = await coro_with_context(afunc(input, child), context)
    except BaseException as error:
        await run.on_chain_error(error)
        raise
    await run.on_chain_end(output)
    return output


class Step(Runnable[Any, Any]):
    """A step with a sync and an async body, each ``(input, config)``: a lean
    ``RunnableLambda(func, afunc=...)``. Traced as one run named ``name``, unless
    ``trace=False``: a graph node, whose run LangGraph already opens (a traced Runnable
    node would nest a second run of the same name under it).

    Example:
        >>> Step(lambda x, config: x * 2, name="double").invoke(21)
        42
    """

    def __init__(
        self, func: Call, afunc: ACall | None = None, *, name: str, trace: bool = True
    ) -> None:
        self.func, self.afunc, self.name, self.trace = func, afunc, name, trace

    @classmethod
    def route(cls, func: Callable[[Any], Any]) -> Step:
        """``func(state)``, a graph's routing function, as an untraced step: the route
        taken shows in the trace as the next node's run, and a traced run per routing
        decision cost more CPU than the decision itself.

        Example:
            >>> Step.route(lambda state: "end" if state["done"] else "next").invoke({"done": 1})
            'end'
        """

        async def afunc(state: Any, config: RunnableConfig) -> Any:
            return func(state)

        name = getattr(func, "__name__", "route")
        return cls(lambda state, config: func(state), afunc, name=name, trace=False)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if not self.trace:
            return self.func(input, ensure_config(config))
        return traced(self.func, input, config, name=self.name)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if self.afunc is None:
            return await super().ainvoke(input, config, **kwargs)
        if not self.trace:
            return await self.afunc(input, ensure_config(config))
        return await atraced(self.afunc, input, config, name=self.name)
