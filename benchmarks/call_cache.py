"""The identical-call cache: scoring and re-scoring the same conversations twice, same
process, with a judge whose every call takes L seconds (greedy: temperature 0).

The user and assistant are scripted and deterministic, so the second pass asks the judge
exactly what the first asked: every judge call of the second pass should be a cache hit.
The futures of one candidate are identical too, and run at once: they all miss in the
first pass (calls in flight are not coalesced). Rows: no cache, an in-memory cache, an
SQLite cache, and ``rescore`` with ``cache=`` (an SQLite file).

    python benchmarks/call_cache.py [--latency 0.2] [--conversations 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from pathlib import Path

from langgraph_collab import Task
from langgraph_collab import score_candidates as score
from langgraph_collab.collection.records import ConversationRecord
from langgraph_collab.collection.rescoring import rescore
from langgraph_collab.roles.cache import cached, create_call_cache
from langgraph_collab.testing import ScriptedChatModel
from langgraph_collab.tracing import RoleUsage, UsageLedger

K, S, W = 2, 3, 1
VERDICT = '{"thought": "ok", "final_artifact": "42", "interactivity": "A", "correct": true}'


class ScriptedJudge(ScriptedChatModel):
    """A scripted judge that says it decodes greedily, as a temperature-0 API judge does."""

    temperature: float = 0.0


def roles(latency: float) -> tuple[dict, UsageLedger]:
    """Deterministic user and assistant, and a judge of ``latency`` s whose calls (and
    those of any copy, cached or not) a ledger on the model itself counts."""
    ledger = UsageLedger()
    user = ScriptedChatModel(script=["Could you explain more?", "Thanks! [[TERMINATE CHAT]]"])
    assistant = ScriptedChatModel(script=lambda messages: f"Reply to: {messages[-1].text}")
    judge = ScriptedJudge(script=[VERDICT], latency=latency, callbacks=[ledger])
    return {"user": user, "assistant": assistant, "judge": judge}, ledger


def conversations(n: int) -> list[tuple[Task, list, list[str]]]:
    out = []
    for i in range(n):
        task = Task(id=f"t{i}", kind="math", request=f"What is 6 x {i + 7}?", reference="42")
        history = [("user", f"I need help with 6 x {i + 7}")]
        out.append((task, history, [f"It is {6 * (i + 7)}.", "Do you want the steps?"]))
    return out


def score_pass(items: list, models: dict) -> None:
    """MR of every conversation's candidates."""
    for task, history, candidates in items:
        for reward in score(history, candidates, task=task, samples=S, window=W, **models):
            assert reward.n_failed == 0, [sample.error for sample in reward.samples]


def rescore_pass(items: list, models: dict, *, cache: Path) -> None:
    """``rescore`` of each conversation (its first candidate as the real reply)."""
    records = [
        ConversationRecord(
            task=task,
            messages=[
                {"role": "user", "content": history[0][1]},
                {"role": "assistant", "content": candidates[0]},
            ],
        )
        for task, history, candidates in items
    ]
    rescore(records, **models, candidates=1, samples=S, window=W, cache=cache)


def timed(run, ledger: UsageLedger) -> tuple[float, int, int]:
    """(wall s, judge calls made, judge cache hits) of one pass."""
    before = ledger.by_role().get("judge", RoleUsage())
    start = time.perf_counter()
    run()
    wall = time.perf_counter() - start
    after = ledger.by_role()["judge"]
    return wall, after.calls - before.calls, after.cache_hits - before.cache_hits


def setting(name: str, items: list, latency: float, folder: Path) -> tuple:
    """Two passes of one setting, from a cold cache: ((wall, calls, hits), (...))."""
    models, ledger = roles(latency)
    if name == "rescore(cache=path)":
        run = functools.partial(rescore_pass, items, models, cache=folder / "rescore.sqlite")
    else:
        if name != "no cache":
            path = folder / "judge.sqlite" if name == "SQLite cache" else None
            models["judge"] = cached(models["judge"], create_call_cache(path))
        run = functools.partial(score_pass, items, models)
    return timed(run, ledger), timed(run, ledger)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="judge seconds per call")
    parser.add_argument("--conversations", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    items = conversations(args.conversations)
    setting("no cache", items[:1], 0.0, Path(tempfile.mkdtemp()))  # warm-up: imports, graph
    print(
        f"MR of {args.conversations} conversations x K={K} candidates x S={S} futures x "
        f"w={W}, judge latency {args.latency:g} s; two passes, same process "
        f"(median of {args.repeats}, each from a cold cache)"
    )
    header = (
        f"{'setting':<22} {'pass':>4} {'wall (s)':>9} {'judge calls':>11} {'cache hits':>10} "
        f"{'2nd/1st':>8}"
    )
    print(header)
    print("-" * len(header))
    for name in ["no cache", "in-memory cache", "SQLite cache", "rescore(cache=path)"]:
        runs = [
            setting(name, items, args.latency, Path(tempfile.mkdtemp(prefix="call-cache-")))
            for _ in range(args.repeats)
        ]
        ratio = statistics.median(second[0] / first[0] for first, second in runs)
        for number in (0, 1):
            wall = statistics.median(run[number][0] for run in runs)
            _, calls, hits = runs[0][number]
            shown = f"{ratio:8.3f}" if number else ""
            print(f"{name:<22} {number + 1:>4} {wall:9.3f} {calls:11d} {hits:10d} {shown:>8}")


if __name__ == "__main__":
    main()
