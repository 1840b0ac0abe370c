"""Collect on a Ray cluster: one Ray task per shard, then merge the shards and export.

    pip install ray                  # optional: not a dependency of langgraph-collab
    python examples/collect_with_ray.py [--shards 4] [--limit 8] [--model local] [--out runs/ray]

Each Ray task runs ``collect(..., num_shards=N, shard_index=i)``: the same deterministic
split on every node, shard ``i`` written to ``OUT/shard-0000i-of-0000N/`` with its own
checkpoints, so a lost task is simply run again and resumes. On a cluster, ``--out`` must
be a folder every node sees (a shared filesystem); then ``read_shards`` merges the shards,
refusing a task recorded twice or a missing shard, and ``export_datasets`` writes the TRL
datasets. ``--model scripted`` plays every role with fake models (offline, instant).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from langgraph_collab import export_datasets, load_chat_model
from langgraph_collab.collection.sharding import read_shards
from langgraph_collab.tasks import load_tasks
from langgraph_collab.testing import ScriptedChatModel

VERDICT = '{"thought": "ok", "final_artifact": "42", "interactivity": "A", "correct": true}'


def scripted_user(messages: list) -> str:
    """A user (its view: roles swapped) that asks once, then ends the chat."""
    asked = any(m.type == "ai" for m in messages)
    return "Thanks, that helps! [[TERMINATE CHAT]]" if asked else "Can you help me with this?"


def models(spec: str) -> dict[str, Any]:
    """The roles, built inside each Ray task (chat models are not shipped between nodes)."""
    if spec == "scripted":
        return {
            "user": ScriptedChatModel(script=scripted_user),
            "assistant": ScriptedChatModel(script=["Which part should I explain first?"]),
            "judge": ScriptedChatModel(script=[VERDICT]),
        }
    options = {"seed": 0, "max_tokens": 96} if spec.startswith("local") else {}
    model = load_chat_model(spec, **options)
    return {"user": model, "assistant": model, "judge": model}


def collect_shard(spec: str, tasks: str, limit: int, out: str, num_shards: int, index: int) -> dict:
    """One shard's collection (a Ray task): returns its summary."""
    from langgraph_collab import collect

    summary = collect(
        load_tasks(tasks, split="train", limit=limit),
        **models(spec),
        out_dir=out,
        num_shards=num_shards,
        shard_index=index,
        candidates=2,
        samples=1,
        window=1,
        max_messages=4,
        progress=False,
    )
    return summary.model_dump(mode="json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4, help="Ray tasks, one shard each")
    parser.add_argument("--model", default="local", help="model spec for every role, or scripted")
    parser.add_argument("--tasks", default="math", help="bundled set, file or Hub id")
    parser.add_argument("--limit", type=int, default=8, help="number of tasks")
    parser.add_argument("--out", default="runs/ray", help="output folder (shared by the nodes)")
    parser.add_argument("--address", default=None, help="Ray cluster address (none: local)")
    args = parser.parse_args()

    import ray  # optional: `pip install ray`

    ray.init(address=args.address, include_dashboard=False)
    remote = ray.remote(collect_shard)
    out = str(Path(args.out).resolve())
    jobs = [
        remote.remote(args.model, args.tasks, args.limit, out, args.shards, index)
        for index in range(args.shards)
    ]
    for index, summary in enumerate(ray.get(jobs)):
        print(f"shard {index}: {summary['recorded']} new records, {summary['calls']} model calls")
    records = read_shards(out)
    datasets = export_datasets(records, Path(out) / "datasets", min_gap=0.0)
    print(
        f"merged {len(records)} records: "
        + ", ".join(f"{k} {len(v)} rows" for k, v in datasets.items())
    )


if __name__ == "__main__":
    main()
