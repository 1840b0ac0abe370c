"""Collection throughput (records/s) against the ideal critical path, in one run.

Scripted fake models with a fixed latency L (default 0.1 s) play every role on the bundled
math tasks: N=3 candidates x S=3 forward samples x w=2 turns, a user that ends the chat
after 3 messages. Measured: one process with 1, 4 and 8 tasks in flight, and 2 worker
processes of one shard each with 4 tasks in flight each (8 in all), the way ``--workers 2``
runs them (started with ``multiprocessing`` spawn here, since scripted models cannot travel
through the CLI's model specs; interpreter start-up and imports are counted, as they are
for ``--workers``). Calls in flight are not capped.

The ideal is the critical path: each task's sequential model calls (live user calls; per
turn the proposal, then the longest forward sample's calls plus its judge) times L, read
off the records, with ``c`` tasks in flight running ``ceil(n / c)`` rounds of the slowest.

    python benchmarks/collect_throughput.py [--tasks 8] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import tempfile
import time
from pathlib import Path

from langgraph_collab.collection.collect import collect
from langgraph_collab.collection.records import ConversationRecord
from langgraph_collab.collection.sharding import read_shards
from langgraph_collab.tasks import load_tasks
from langgraph_collab.testing import ScriptedChatModel

OPTIONS = {"candidates": 3, "samples": 3, "window": 2, "max_messages": 14}
REPLIES = ["Sure, here is more detail.", "Let me put it another way.", "Here is one more step."]
VERDICT = '{"thought": "ok", "final_artifact": "42", "interactivity": "A", "correct": true}'


def user_script(messages: list) -> str:
    """The simulated user (its view: roles swapped): three messages, then it ends the chat."""
    written = sum(1 for m in messages if m.type == "ai")
    return "Thanks! [[TERMINATE CHAT]]" if written >= 3 else f"Could you explain step {written}?"


def run(out: Path, n_tasks: int, latency: float, in_flight: int, **shard: int) -> float:
    """Collect ``n_tasks`` (or one shard of them) into ``out``; returns the wall seconds."""
    models = {
        "user": ScriptedChatModel(script=user_script, latency=latency),
        # Three texts in turn: a turn's three candidates differ (identical candidate texts
        # would share their forward samples and MR).
        "assistant": ScriptedChatModel(script=REPLIES, latency=latency),
        "judge": ScriptedChatModel(script=[VERDICT], latency=latency),
    }
    start = time.perf_counter()
    collect(load_tasks("math", limit=n_tasks), **models, out_dir=out, **OPTIONS, **shard,
            max_concurrent_tasks=in_flight, max_model_calls=10_000, progress=False)  # fmt: skip
    return time.perf_counter() - start


def critical_path(record: ConversationRecord) -> int:
    """The task's model calls that must run one after another (see the module docstring)."""
    future_user = sum(
        m["role"] == "user" for t in record.turns for c in t.candidates for s in c.samples
        for m in s.future
    )  # fmt: skip
    live_user = record.usage["simulated_user"].calls - future_user
    turns = sum(
        1 + max(len(s.future) + 1 for c in t.candidates for s in c.samples) for t in record.turns
    )
    return live_user + turns


def workers(out: Path, n_tasks: int, latency: float, n: int) -> float:
    """``n`` spawned processes, shard ``i`` of ``n`` each, 4 tasks in flight each."""
    context = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    shards = [{"num_shards": n, "shard_index": i} for i in range(n)]
    processes = [
        context.Process(target=run, args=(out, n_tasks, latency, 4), kwargs=shard)
        for shard in shards
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"a worker failed with exit status {process.exitcode}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=8, help="math tasks collected per setting")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per model call")
    args = parser.parse_args()
    n, latency = args.tasks, args.latency
    root = Path(tempfile.mkdtemp(prefix="collect-throughput-"))
    print(f"{n} math tasks, L={latency} s, {OPTIONS}")
    print(f"{'setting':<22}{'wall s':>8}{'records/s':>11}{'ideal/s':>9}{'ratio':>7}")
    cp = None
    for label, in_flight, wall in (
        *((f"{c} in flight", c, lambda out, c=c: run(out, n, latency, c)) for c in (1, 4, 8)),
        ("--workers 2 (4 each)", 8, lambda out: workers(out, n, latency, 2)),
    ):
        out = root / label.split()[0].strip("-")
        seconds = wall(out)
        records = read_shards(out)
        cp = cp or max(critical_path(r) for r in records)
        ideal = n / (math.ceil(n / in_flight) * cp * latency)
        rate = len(records) / seconds
        print(f"{label:<22}{seconds:>8.2f}{rate:>11.2f}{ideal:>9.2f}{ideal / rate:>6.2f}x")
    calls = sum(u.calls for u in records[0].usage.values())
    print(f"critical path: {cp} sequential calls per task ({cp * latency:.1f} s); "
          f"{calls} calls per record; ratio = measured time / ideal")  # fmt: skip


if __name__ == "__main__":
    main()
