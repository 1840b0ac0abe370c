"""Which tokens carry the loss: the policy learns only its own words.

An SFT conversation holds the system prompt, the simulated user's turns (its closing
``[[TERMINATE CHAT]]`` among them) and the assistant's replies. Only the replies are
trained, with any chat template, in one of two ways TRL supports:

- the template has ``{% generation %}`` markers, or TRL ships a training twin of it with
  them (``trl.chat_template_utils.get_training_chat_template``): the ``messages`` rows stay
  whole and TRL's ``assistant_only_loss`` masks everything outside the markers;
- otherwise (SmolLM2's template, the embedded model's, has none): each assistant reply
  becomes a prompt/completion row (the conversation before it, then the reply), the
  format of CollabLLM's own per-turn datasets, trained with TRL's ``completion_only_loss``.
  Each earlier turn is encoded again as the prompt of a later row, so these rows cost
  more tokens per step than one whole conversation.

Either way the end-of-turn token that closes an assistant reply is trained (the model
learns to stop, as TRL recommends), and nothing of a system or user message is: neither
its text, nor its role header, nor its end-of-turn token. DPO trains its chosen and
rejected replies only (TRL masks the prompt); GRPO and online DPO train the completions
the policy generates. :func:`example_rows` reads back, from a built trainer, the exact
tokens TRL's collator puts in a batch and which of them carry loss.

Example:
    >>> from datasets import Dataset
    >>> rows = turn_rows(Dataset.from_dict({"messages": [[
    ...     {"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"},
    ...     {"role": "user", "content": "bye"}, {"role": "assistant", "content": "Bye!"}]]}))
    >>> [len(prompt) for prompt in rows["prompt"]], rows["completion"][1]
    ([1, 3], [{'role': 'assistant', 'content': 'Bye!'}])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datasets import Dataset


def has_assistant_masks(tokenizer: Any) -> bool:
    """Whether TRL can mask the assistant's tokens of a whole conversation with this
    tokenizer: its template has ``{% generation %}`` markers, or TRL has a training
    template for it."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return False
    if has_generation_markers(template):
        return True
    try:
        get_training_chat_template(tokenizer)
    except ValueError:  # TRL's answer for a template it cannot patch
        return False
    return True


def turn_rows(dataset: Dataset) -> Dataset:
    """One prompt/completion row per assistant reply of each ``messages`` row: ``prompt``
    is every message before the reply, ``completion`` the reply; the other columns are
    copied, and ``turn`` numbers the replies of a conversation from 0. A reply with nothing
    before it has no prompt to condition on and is left out."""
    from datasets import Dataset

    others = [name for name in dataset.column_names if name not in ("messages", "turn")]
    columns: dict[str, list[Any]] = {"prompt": [], "completion": [], "turn": []}
    columns |= {name: [] for name in others}
    for row in dataset:
        messages = row["messages"]
        replies = [i for i, m in enumerate(messages) if m["role"] == "assistant" and i > 0]
        for turn, index in enumerate(replies):
            columns["prompt"].append(messages[:index])
            columns["completion"].append([messages[index]])
            columns["turn"].append(turn)
            for name in others:
                columns[name].append(row[name])
    return Dataset.from_dict(columns)


def sft_training_data(dataset: Dataset, tokenizer: Any) -> tuple[Dataset, dict[str, Any]]:
    """The SFT dataset as TRL will train it on the assistant's tokens only, and the TRL
    options that make it so (see the module docstring). A ``prompt``/``completion``
    dataset keeps TRL's completion-only loss; a plain ``text`` dataset has no roles to
    tell apart and is trained whole."""
    columns = set(dataset.column_names)
    if "messages" in columns:
        if has_assistant_masks(tokenizer):
            return dataset, {"assistant_only_loss": True}
        return turn_rows(dataset), {"completion_only_loss": True}
    if {"prompt", "completion"} <= columns:
        return dataset, {"completion_only_loss": True}
    return dataset, {}


def example_rows(trainer: Any, limit: int | None = None) -> Iterator[list[tuple[list, list]]]:
    """Per training example of a built SFT or DPO trainer, in order: the rows TRL's
    collator makes of it (one for SFT, chosen and rejected for DPO), each as
    ``(token ids, loss flags)`` without padding. A token carries loss where its label is
    not -100 (SFT) or it lies in the completion mask (DPO, whose loss reads that mask)."""
    dataset = trainer.train_dataset
    count = len(dataset) if limit is None else min(limit, len(dataset))
    for index in range(count):
        batch = trainer.data_collator([dataset[index]])
        labels = batch.get("labels")
        carried = labels != -100 if labels is not None else batch["completion_mask"].bool()
        real = batch["attention_mask"].bool() if "attention_mask" in batch else None
        rows = []
        for row in range(batch["input_ids"].shape[0]):
            keep = real[row] if real is not None else slice(None)
            ids = batch["input_ids"][row][keep].tolist()
            rows.append((ids, carried[row][keep].tolist()))
        yield rows


def token_counts(trainer: Any) -> tuple[int, int]:
    """``(trained, ignored)``: the tokens of one pass over the trainer's data that carry
    loss, and those fed to the model that do not (prompt, system and user turns)."""
    trained = ignored = 0
    for rows in example_rows(trainer):
        for _, flags in rows:
            trained += sum(flags)
            ignored += len(flags) - sum(flags)
    return trained, ignored


def training_examples(trainer: Any, limit: int) -> list[dict[str, str]]:
    """The first ``limit`` training examples as ``{"trained": text, "ignored": text}``:
    the decoded tokens that carry loss and the decoded rest (a DPO example's chosen row,
    then its rejected one)."""
    tokenizer = trainer.processing_class
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # a processor wraps one
    out = []
    for rows in example_rows(trainer, limit):
        parts: dict[str, list[str]] = {"trained": [], "ignored": []}
        for ids, flags in rows:
            trained = [t for t, flag in zip(ids, flags, strict=True) if flag]
            ignored = [t for t, flag in zip(ids, flags, strict=True) if not flag]
            parts["trained"].append(tokenizer.decode(trained))
            parts["ignored"].append(tokenizer.decode(ignored))
        out.append({key: "".join(texts) for key, texts in parts.items()})
    return out
