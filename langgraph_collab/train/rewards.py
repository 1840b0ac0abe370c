"""MR as a TRL reward function, for the online methods (GRPO, online DPO).

Each completion is scored as a candidate reply to its prompt by the Multiturn-aware Reward:
the task is rebuilt from the dataset's columns (as
:func:`langgraph_collab.collection.export.prompt_dataset`
writes them), futures are forward-sampled with the simulated user, and the future assistant
is a configured model or the policy being trained.

Example:
    >>> from langgraph_collab.train.rewards import task_from_columns
    >>> task_from_columns({"request": ["Say hi"], "kind": ["chat"]}, 0).request
    'Say hi'
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from langgraph_collab._runtime.sync import run_sync
from langgraph_collab.errors import ScoringError
from langgraph_collab.reward.options import RewardOptions
from langgraph_collab.reward.score import ascore_candidates
from langgraph_collab.roles.models import load_chat_model
from langgraph_collab.state import Task

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


def _text(message: Any) -> str:
    """A completion's text: a plain string, or the last message of a conversational one."""
    if isinstance(message, str):
        return message
    return str(message[-1]["content"]) if message else ""


def task_from_columns(columns: dict[str, Sequence[Any]], index: int) -> Task:
    """The :class:`Task` of row ``index``, from
    :func:`~langgraph_collab.collection.export.prompt_dataset`'s
    columns (``task_id``, ``kind``, ``request``, ``reference``, ``metadata`` JSON, ...)."""
    if "request" not in columns:
        raise ValueError(
            "The MR reward needs the task columns of "
            "langgraph_collab.collection.export.prompt_dataset "
            f"(task_id, kind, request, reference, metadata, ...); got {sorted(columns)}"
        )

    def get(name: str, default: Any = "") -> Any:
        return columns[name][index] if name in columns else default

    metadata = get("metadata", "{}") or "{}"
    return Task(
        id=str(get("task_id", "task") or "task"),
        kind=get("kind", "chat") or "chat",
        request=get("request"),
        reference=get("reference") or None,
        metadata=json.loads(metadata) if isinstance(metadata, str) else dict(metadata),
        description=get("description") or "",
        opening=get("opening") or None,
    )


@contextlib.contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    """Dropout off while the policy plays future turns; the training mode comes back after."""
    training = bool(getattr(model, "training", False))
    if training:
        model.eval()
    try:
        yield
    finally:
        if training:
            model.train()


class MRReward:
    """A TRL reward function: the Multiturn-aware Reward of each completion as a reply to its
    prompt. Completions of one prompt are scored together (their futures run at once, a
    repeated text once); a completion whose MR fails gets the mean MR of its siblings (else
    ``neutral``), with a warning. Build it with :func:`mr_reward_function`."""

    def __init__(self, *, user: Any, judge: Any, assistant: Any, name: str, **settings: Any):
        self.__name__ = name
        self.user, self.judge, self.assistant = user, judge, assistant
        self.options: RewardOptions = settings["options"]
        self.neutral, self.max_concurrency = settings["neutral"], settings["max_concurrency"]
        self.policy: Any = None
        self.calls = self.failures = 0

    @property
    def needs_policy(self) -> bool:
        """True until :meth:`bind_policy` gives the future assistant (``"policy"``)."""
        return self.assistant is None

    def bind_policy(self, model: Any, tokenizer: Any, *, max_tokens: int = 128) -> MRReward:
        """Let ``model`` (the policy as it trains) play the future assistant turns."""
        from langgraph_collab.roles.hf import ChatTransformers

        self.policy = model
        self.assistant = ChatTransformers(model=model, tokenizer=tokenizer, max_tokens=max_tokens)
        return self

    async def _score(self, prompt: Any, texts: list[str], task: Task) -> list[float | None]:
        conversation = [("user", prompt)] if isinstance(prompt, str) else list(prompt)
        try:
            rewards = await ascore_candidates(
                conversation, texts, task=task, user=self.user, assistant=self.assistant,
                judge=self.judge, options=self.options, max_concurrency=self.max_concurrency,
            )  # fmt: skip
        except ScoringError as error:  # every future failed: masked below, counted, warned
            warnings.warn(f"MR failed for task {task.id!r}: {error}", RuntimeWarning, stacklevel=2)
            return [None] * len(texts)
        return [r.mean if r.mean is not None and math.isfinite(r.mean) else None for r in rewards]

    def __call__(self, prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        if self.assistant is None:
            raise RuntimeError(
                "future_assistant='policy' needs the policy: call bind_policy(model, tokenizer) "
                "(train_policy does it for you)"
            )
        texts = [_text(c) for c in completions]
        ids = columns.get("task_id") or [None] * len(prompts)
        groups: dict[str, list[int]] = {}
        for i, prompt in enumerate(prompts):
            groups.setdefault(json.dumps([prompt, ids[i]]), []).append(i)
        unique = [list(dict.fromkeys(texts[i] for i in group)) for group in groups.values()]

        async def score_all() -> list[list[float | None]]:
            jobs = [
                self._score(prompts[group[0]], names, task_from_columns(columns, group[0]))
                for group, names in zip(groups.values(), unique, strict=True)
            ]
            return await asyncio.gather(*jobs)

        with _eval_mode(self.policy):
            scored = run_sync(score_all())
        rewards, failed = [self.neutral] * len(prompts), 0
        for group, names, values in zip(groups.values(), unique, scored, strict=True):
            valid = [v for v in values if v is not None]
            fill = sum(valid) / len(valid) if valid else self.neutral
            by_text = dict(zip(names, values, strict=True))
            for i in group:
                failed += by_text[texts[i]] is None
                rewards[i] = fill if by_text[texts[i]] is None else by_text[texts[i]]
        self.calls, self.failures = self.calls + len(prompts), self.failures + failed
        if failed:
            message = f"MR failed for {failed} of {len(prompts)} completions; scored as neutral"
            warnings.warn(message, RuntimeWarning, stacklevel=2)
        if callable(columns.get("log_metric")):  # GRPO logs it with its own metrics
            columns["log_metric"]("mr/failed_share", failed / max(len(prompts), 1))
        return rewards


def mr_reward_function(
    *,
    user: str | BaseChatModel,
    judge: str | BaseChatModel,
    future_assistant: str | BaseChatModel | None = "policy",
    options: RewardOptions | None = None,
    neutral: float = 0.0,
    max_concurrency: int | None = None,
    name: str = "multiturn_aware_reward",
    **overrides: Any,
) -> MRReward:
    """A TRL reward function (``reward(prompts, completions, **columns) -> list[float]``)
    scoring each completion by its MR, the task rebuilt from the dataset's columns.

    ``user``, ``judge`` and ``future_assistant`` are chat models or specs
    (:func:`~langgraph_collab.load_chat_model`); ``future_assistant="policy"`` (or None) lets the
    policy being trained play the future turns once bound with ``bind_policy``. ``options``
    are the MR settings (:class:`~langgraph_collab.reward.options.RewardOptions`; keywords
    naming its fields override it: ``samples=2``).

    Example:
        >>> reward = mr_reward_function(user=model, judge=model, future_assistant=model,
        ...                             samples=2, window=1)  # doctest: +SKIP
        >>> reward(prompts=[[{"role": "user", "content": "hi"}]], completions=["Hello!"],
        ...        request=["Say hi"], kind=["chat"])  # doctest: +SKIP
        [0.93]
    """
    user, judge, assistant = (
        m if m in (None, "policy") or not isinstance(m, str) else load_chat_model(m)
        for m in (user, judge, future_assistant)
    )
    return MRReward(
        user=user, judge=judge, assistant=None if assistant == "policy" else assistant,
        name=name, neutral=neutral, max_concurrency=max_concurrency,
        options=RewardOptions.of(options, **overrides),
    )  # fmt: skip
