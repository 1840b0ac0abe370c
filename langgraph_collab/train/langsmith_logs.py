"""``report_to: langsmith``: the trainer's logs as a LangSmith run.

transformers has no LangSmith integration, so TRL would refuse the name. The pipeline takes
``langsmith`` out of ``report_to`` before TRL sees it (:func:`without_langsmith`) and adds
:class:`LangSmithLogger`: one run per training, its inputs the method and hyper-parameters,
each log (loss, learning rate, tokens...) an event on it, the last log its outputs. Like
every entry point it runs under the tracing guard's rules: LangSmith down or hanging -> one
warning and nothing sent; at the end a bounded flush.

Example:
    >>> without_langsmith({"report_to": ["langsmith", "tensorboard"], "beta": 0.1})
    ({'report_to': ['tensorboard'], 'beta': 0.1}, True)
    >>> without_langsmith({"report_to": "langsmith"})
    ({'report_to': 'none'}, True)
"""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Mapping
from typing import Any

from transformers import TrainerCallback

from langgraph_collab.tracing import flush_traces, langsmith_reachable

LANGSMITH = "langsmith"


def without_langsmith(values: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """``values`` (TRL options) with ``langsmith`` taken out of ``report_to``, and whether
    it was there."""
    report = values.get("report_to")
    items = [report] if isinstance(report, str) else list(report or [])
    if LANGSMITH not in items:
        return dict(values), False
    rest = [item for item in items if item != LANGSMITH]
    return {**values, "report_to": rest or "none"}, True


class LangSmithLogger(TrainerCallback):
    """A ``transformers.TrainerCallback`` that sends a training run to LangSmith (main
    process only).

    Example:
        >>> logger = LangSmithLogger(name="dpo", inputs={"beta": 0.1})
        >>> trainer.add_callback(logger)  # doctest: +SKIP
    """

    def __init__(self, *, name: str, inputs: Mapping[str, Any], client: Any = None) -> None:
        self.name, self.inputs, self.client = name, dict(inputs), client
        self.run: Any = None
        self.last: dict[str, Any] = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        if self.client is None and not langsmith_reachable():
            warnings.warn(
                "report_to langsmith: LangSmith does not answer; the training logs are not sent",
                stacklevel=2,
            )
            return
        from langsmith import run_trees

        client = self.client or run_trees.get_cached_client()
        self.run = run_trees.RunTree(
            name=f"train:{self.name}", run_type="chain", inputs=self.inputs, client=client,
            tags=["training", f"method:{self.name}"],
        )  # fmt: skip
        self.run.post()

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any
    ) -> None:
        if self.run is None or not logs:
            return
        self.last = {"step": state.global_step, **logs}
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        self.run.add_event({"name": "log", "time": now, "kwargs": self.last})

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.run is None:
            return
        self.run.end(outputs={"global_step": state.global_step, **self.last})
        self.run.patch()
        flush_traces()
        self.run = None
