"""Tokens that carry loss and tokens ignored in a run's exported SFT and DPO data, as TRL
batches them for the embedded model's trainable twin (its tokenizer and chat template):
``before``, the export handed to TRL's trainer as it is with TRL's defaults; ``after``, as
``train_policy`` prepares it (``langgraph_collab/train/loss_mask.py``).

    python -m langgraph_collab.train --stages collect,export --name demo   # the demo's data
    python benchmarks/loss_tokens.py runs/demo
"""

from __future__ import annotations

import argparse
import tempfile

import datasets

from langgraph_collab.train.config import CollabTrainConfig
from langgraph_collab.train.loss_mask import token_counts
from langgraph_collab.train.trainers import build_trainer, load_policy, lora_config
from langgraph_collab.train.trl_args import trainer_args, trl_trainer_class


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run folder with datasets/sft and datasets/dpo")
    parser.add_argument("--policy", default="local", help="the policy whose template counts")
    args = parser.parse_args()
    for method in ("sft", "dpo"):
        data = datasets.load_from_disk(f"{args.run}/datasets/{method}")
        config = CollabTrainConfig(method=method, policy=args.policy)
        with tempfile.TemporaryDirectory() as out:
            model, tokenizer = load_policy(config.policy)
            as_is = trl_trainer_class(method)(
                model=model, args=trainer_args(config, output_dir=out), train_dataset=data,
                processing_class=tokenizer, peft_config=lora_config(config),
            )  # fmt: skip
            before = token_counts(as_is)
            model, tokenizer = load_policy(config.policy)
            prepared = build_trainer(
                config, train_dataset=data, output_dir=out, model=model, tokenizer=tokenizer
            )
            after = token_counts(prepared)
        print(f"{method}: {len(data)} rows; before: {before[0]} tokens carry loss, "
              f"{before[1]} ignored; after: {after[0]} carry loss, {after[1]} ignored")  # fmt: skip


if __name__ == "__main__":
    main()
