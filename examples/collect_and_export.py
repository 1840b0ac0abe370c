"""Collect scored conversations and export DPO pairs (and SFT / prompt datasets) for TRL.

    python examples/collect_and_export.py [--model local] [--tasks math] [--limit 2] [--fast]

Kill it at any moment and run it again: it resumes where it stopped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from langgraph_collab import collect, export_datasets, load_chat_model, read_records
from langgraph_collab.tasks import load_tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local", help="model spec for every role")
    parser.add_argument("--tasks", default="math", help="bundled set, file or Hub id")
    parser.add_argument("--limit", type=int, default=2, help="number of tasks")
    parser.add_argument("--out", default="runs/example", help="output folder")
    parser.add_argument("--fast", action="store_true", help="2 candidates, 1 future, 4 messages")
    args = parser.parse_args()

    options = {"seed": 0, "max_tokens": 96} if args.model.startswith("local") else {}
    model = load_chat_model(args.model, **options)
    size = (
        {"candidates": 2, "samples": 1, "window": 1, "max_messages": 4}
        if args.fast
        else {"candidates": 3, "samples": 2, "window": 1, "max_messages": 6}
    )
    summary = collect(
        load_tasks(args.tasks, split="train", limit=args.limit),
        user=model,
        assistant=model,
        judge=model,
        out_dir=args.out,
        **size,
    )
    print(f"{summary.recorded} new records, {summary.calls} model calls, {summary.wall_s:.0f} s")
    records = read_records(Path(args.out) / "records.jsonl")
    datasets = export_datasets(records, Path(args.out) / "datasets", min_gap=0.0)
    for name, dataset in datasets.items():
        print(f"{name}: {len(dataset)} rows -> {Path(args.out) / 'datasets' / name}")
    if len(datasets["dpo"]):
        pair = datasets["dpo"][0]
        print(f"\nA DPO pair (MR {pair['chosen_score']:.3f} vs {pair['rejected_score']:.3f}):")
        print(f"  prompt:   {pair['prompt'][-1]['content'][:100]!r}")
        print(f"  chosen:   {pair['chosen'][0]['content'][:100]!r}")
        print(f"  rejected: {pair['rejected'][0]['content'][:100]!r}")


if __name__ == "__main__":
    main()
