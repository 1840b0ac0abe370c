"""The trainer node's engine: a TRL trainer for ``config.method``, and MR as a reward function.

:func:`train_policy` builds ``trl.SFTTrainer`` (``messages``), ``trl.DPOTrainer`` (``prompt`` /
``chosen`` / ``rejected``), ``trl.GRPOTrainer`` or online DPO from ``trl.experimental``
(``prompt`` plus the task columns, scored by :func:`mr_reward_function`), with a LoRA adapter
(peft) or full fine-tuning; the TRL config object comes from
:func:`~langgraph_collab.train.trl_args.trainer_args` (our defaults, then the user's TRL
options). Checkpoints land in ``output_dir`` and a rerun resumes from the last
complete one; the final model or adapter and its tokenizer go to ``output_dir/final``. TRL and
accelerate do the distribution: ``accelerate launch`` runs the same code on every process.

Example:
    >>> from langgraph_collab.train import CollabTrainConfig
    >>> from langgraph_collab.train.trainers import train_policy
    >>> config = CollabTrainConfig(method="dpo", max_steps=4)
    >>> result = train_policy(config, train_dataset=dpo, output_dir="runs/x")  # doctest: +SKIP
    >>> result.model_path, result.tokens_per_s  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph_collab.train.config import CollabTrainConfig
from langgraph_collab.train.loss_mask import sft_training_data, token_counts, training_examples
from langgraph_collab.train.rewards import MRReward
from langgraph_collab.train.roles import load_policy, settings
from langgraph_collab.train.trl_args import trainer_args, trl_trainer_class

if TYPE_CHECKING:
    from datasets import Dataset

REQUIRED_COLUMNS = {"sft": [("messages",), ("prompt", "completion"), ("text",)],
                    "dpo": [("prompt", "chosen", "rejected")],
                    "grpo": [("prompt",)], "online_dpo": [("prompt",)]}  # fmt: skip


@dataclass
class TrainResult:
    """What a training run produced. ``tokens`` counts the non-padding tokens fed to the
    model in this call (prompt + completion tokens for the online methods), over
    ``train_runtime_s``. For SFT and DPO, ``trained_tokens`` and ``ignored_tokens`` split
    one pass over the training data into the tokens that carry loss (the assistant's) and
    the rest (system, user, prompt): see :mod:`~langgraph_collab.train.loss_mask`."""

    output_dir: str
    model_path: str
    method: str
    global_step: int
    train_loss: float | None
    train_runtime_s: float
    tokens: int
    tokens_per_s: float
    resumed_from: str | None = None
    trained_tokens: int | None = None
    ignored_tokens: int | None = None
    log_history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """:meth:`to_dict` without the log history."""
        return {k: v for k, v in self.to_dict().items() if k != "log_history"}


# ---------------------------------------------------------------------- trainers


def check_dataset(method: str, dataset: Dataset) -> None:
    """Raise ``ValueError`` when ``dataset`` is empty or lacks the columns ``method`` needs."""
    options = REQUIRED_COLUMNS[method]
    columns = set(dataset.column_names)
    if not any(set(option) <= columns for option in options):
        wanted = " or ".join("/".join(o) for o in options)
        raise ValueError(f"{method} needs the columns {wanted}; the dataset has {sorted(columns)}")
    if len(dataset) == 0:
        raise ValueError(
            f"The {method} dataset is empty: collect more conversations (--train-limit), "
            "lower --min-gap or --min-score, or give --dataset"
        )


def _counting(trainer_class: type) -> type:
    """Online DPO counts no tokens: count the prompt + completion tokens of its policy passes."""

    class CountingOnlineDPOTrainer(trainer_class):
        def _forward(self, model: Any, p_ids: Any, p_mask: Any, c_ids: Any, c_mask: Any, *a: Any):
            import torch

            if torch.is_grad_enabled():  # the policy's pass, not the reference's
                seen = (p_mask.sum() + c_mask.sum()).detach()
                self.state.num_input_tokens_seen += int(self.accelerator.gather(seen).sum())
            return super()._forward(model, p_ids, p_mask, c_ids, c_mask, *a)

    return CountingOnlineDPOTrainer


def _token_meter() -> Any:
    """A callback measuring the tokens seen in this ``train()`` call (resumes included)."""
    from transformers import TrainerCallback

    class TokenMeter(TrainerCallback):
        start = tokens = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.start = state.num_input_tokens_seen

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.tokens = state.num_input_tokens_seen - self.start

    return TokenMeter()


def lora_config(config: CollabTrainConfig) -> Any:
    """The peft ``LoraConfig`` (task type CAUSAL_LM) of the config's ``lora_*`` fields."""
    from peft import LoraConfig

    c = config
    return LoraConfig(r=c.lora_r, lora_alpha=c.lora_alpha, lora_dropout=c.lora_dropout,
                      target_modules=c.target_modules, task_type="CAUSAL_LM")  # fmt: skip


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest complete ``checkpoint-N`` folder (its ``trainer_state.json`` written last)."""
    folders = Path(output_dir).glob("checkpoint-*") if Path(output_dir).is_dir() else []
    steps = [(int(p.name[11:]), p) for p in folders if re.fullmatch(r"checkpoint-\d+", p.name)]
    complete = [p for _, p in sorted(steps, reverse=True) if (p / "trainer_state.json").is_file()]
    return str(complete[0]) if complete else None


_TRAINING_STATE = shutil.ignore_patterns("optimizer.pt", "scheduler.pt", "rng_state*", "trainer_*")


def _finished(checkpoint: str | None, max_steps: int | None) -> Any:
    """The checkpoint's ``TrainerState`` when it already reached ``max_steps``, else None."""
    from transformers import TrainerState

    if checkpoint is None or max_steps is None:
        return None
    state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
    return state if state.global_step >= max_steps else None


def build_trainer(
    config: CollabTrainConfig,
    *,
    train_dataset: Dataset,
    output_dir: str | Path,
    reward_funcs: Callable | Sequence[Callable] | None = None,
    model: Any = None,
    tokenizer: Any = None,
    callbacks: Sequence[Any] = (),
) -> Any:
    """The TRL trainer :func:`train_policy` trains, built but not run (same arguments).

    SFT data is prepared so that only the assistant's tokens carry loss
    (:func:`~langgraph_collab.train.loss_mask.sft_training_data`); its TRL options apply
    unless ``config.trl`` sets them.
    """
    config.validate()
    check_dataset(config.method, train_dataset)
    if model is None or tokenizer is None:
        model, tokenizer = load_policy(config.policy)
    loss_options: dict[str, Any] = {}
    if config.method == "sft":
        train_dataset, loss_options = sft_training_data(train_dataset, tokenizer)
        check_dataset(config.method, train_dataset)
    args = trainer_args(config, output_dir=output_dir, defaults=loss_options)
    trainer_class = trl_trainer_class(config.method)
    if config.method == "online_dpo":
        trainer_class = _counting(trainer_class)
    kwargs: dict[str, Any] = {
        "model": model, "args": args, "train_dataset": train_dataset,
        "processing_class": tokenizer,
        "peft_config": lora_config(config) if config.lora else None,
    }  # fmt: skip
    if config.method == "dpo" and not config.lora:
        kwargs["ref_model"] = copy.deepcopy(model)  # the frozen start point, before training
    if config.method in ("grpo", "online_dpo"):
        if reward_funcs is None:
            raise ValueError(f"{config.method} needs reward_funcs, e.g. mr_reward_function(...)")
        funcs = list(reward_funcs) if isinstance(reward_funcs, Sequence) else [reward_funcs]
        kwargs["reward_funcs"] = funcs
    trainer = trainer_class(**kwargs, callbacks=list(callbacks))
    for func in kwargs.get("reward_funcs", []):
        if isinstance(func, MRReward) and func.needs_policy:
            max_tokens = settings("future_assistant", config)["max_tokens"]
            func.bind_policy(trainer.model, tokenizer, max_tokens=max_tokens)
    return trainer


def check_showable(method: str) -> None:
    """Raise ``ValueError`` for a method without fixed training examples to show."""
    if method not in ("sft", "dpo"):
        raise ValueError(
            f"--show-training-example shows the fixed examples of sft and dpo; {method} "
            "trains on completions the policy generates during training"
        )


def show_training_examples(
    config: CollabTrainConfig, limit: int, *, train_dataset: Dataset, **options: Any
) -> list[dict[str, str]]:
    """The first ``limit`` training examples of an SFT or DPO run, tokenized and collated
    as TRL will train them: ``{"trained": ..., "ignored": ...}`` each (see
    :func:`~langgraph_collab.train.loss_mask.training_examples`). Nothing is trained.

    Example:
        >>> config = CollabTrainConfig(method="sft")
        >>> show_training_examples(config, 1, train_dataset=sft)  # doctest: +SKIP
        [{'trained': 'Which sum?<|im_end|>\\n', 'ignored': '<|im_start|>system...'}]
    """
    import tempfile

    check_showable(config.method)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = build_trainer(config, train_dataset=train_dataset, output_dir=scratch, **options)
        return training_examples(trainer, limit)


def train_policy(
    config: CollabTrainConfig,
    *,
    train_dataset: Dataset,
    output_dir: str | Path,
    reward_funcs: Callable | Sequence[Callable] | None = None,
    resume: bool = True,
    model: Any = None,
    tokenizer: Any = None,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train the policy with TRL's trainer for ``config.method`` and save it to
    ``output_dir/final``.

    Args:
        config: The run's configuration (method, hyper-parameters, LoRA, roles for MR).
        train_dataset: The exported dataset for the method (SFT's is trained on the
            assistant's tokens only, see :func:`build_trainer`).
        output_dir: Checkpoints, the final model and ``train_result.json`` go here.
        reward_funcs: GRPO / online DPO reward functions (required there), e.g.
            :func:`mr_reward_function`; an :class:`MRReward` whose future assistant is the
            policy is bound to the trainer's model.
        resume: Continue from the newest complete checkpoint in ``output_dir``, if any.
        model, tokenizer: A loaded policy (default: :func:`load_policy` of ``config.policy``).
        callbacks: Extra ``transformers.TrainerCallback`` objects (progress bars...).

    Example:
        >>> result = train_policy(CollabTrainConfig(method="sft"), train_dataset=sft,
        ...                       output_dir="runs/demo/model")  # doctest: +SKIP
    """
    from langgraph_collab.train.langsmith_logs import LangSmithLogger, without_langsmith

    meter = _token_meter()
    trainer = build_trainer(
        config, train_dataset=train_dataset, output_dir=output_dir, reward_funcs=reward_funcs,
        model=model, tokenizer=tokenizer, callbacks=[*callbacks, meter],
    )  # fmt: skip
    if without_langsmith(config.trl)[1]:
        trainer.add_callback(LangSmithLogger(name=config.method, inputs=trainer.args.to_dict()))
    counted = token_counts(trainer) if config.method in ("sft", "dpo") else (None, None)

    checkpoint = last_checkpoint(output_dir) if resume else None
    final = Path(output_dir) / "final"
    state, metrics = _finished(checkpoint, config.max_steps), {}
    if state is not None:  # resuming a finished run would train one step more: export it
        if trainer.is_world_process_zero():
            shutil.copytree(checkpoint, final, dirs_exist_ok=True, ignore=_TRAINING_STATE)
        trainer.accelerator.wait_for_everyone()
    else:
        metrics = trainer.train(resume_from_checkpoint=checkpoint).metrics
        trainer.save_model(str(final))
        state = trainer.state
    runtime, tokens = float(metrics.get("train_runtime", 0.0)), int(meter.tokens)
    result = TrainResult(
        output_dir=str(output_dir), model_path=str(final), method=config.method,
        global_step=state.global_step, train_loss=metrics.get("train_loss"),
        train_runtime_s=runtime, tokens=tokens,
        tokens_per_s=tokens / runtime if runtime > 0 else 0.0, resumed_from=checkpoint,
        trained_tokens=counted[0], ignored_tokens=counted[1],
        log_history=list(state.log_history),
    )  # fmt: skip
    if trainer.is_world_process_zero():
        text = json.dumps(result.to_dict(), indent=2, default=str)
        (Path(output_dir) / "train_result.json").write_text(text, encoding="utf-8")
    return result
