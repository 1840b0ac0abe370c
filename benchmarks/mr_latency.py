"""MR latency with a fixed injected model latency L: how close is the reward graph to the
ideal critical path (one future's sequential calls x L, all futures in parallel)?

K=4 candidates x S=3 futures x w=2 turns (and K=16 x S=6 at the end); a user that never
ends the chat, so each future is 4 forward calls + the judge. Baselines run in the same
process: the ideal critical path, and the same graph capped at one future in flight (the
reference code's way).

    python benchmarks/mr_latency.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from langgraph_collab import Task, ascore_candidates, create_judge, score_candidates
from langgraph_collab.testing import ScriptedChatModel, separate_judges_script

K, S, W = 4, 3, 2
TASK = Task(id="bench", kind="math", request="What is 6 x 7?", reference="42")
HISTORY = [("user", "I need help with a multiplication")]
VERDICT = '{"thought": "ok", "final_artifact": "42", "interactivity": "A", "correct": true}'


def models(latency: float, *, separate: bool = False) -> dict:
    user = ScriptedChatModel(script=["Could you explain more?"], latency=latency)
    assistant = ScriptedChatModel(script=["Sure, here is more detail."], latency=latency)
    judge_model = ScriptedChatModel(
        script=separate_judges_script("42") if separate else [VERDICT], latency=latency
    )
    judge = create_judge(judge_model, combined=not separate)
    return {"user": user, "assistant": assistant, "judge": judge, "_judge_model": judge_model}


def run(
    latency: float,
    *,
    mode: str = "async",
    separate: bool = False,
    cap: int | None = None,
    k: int = K,
    s: int = S,
):
    roles = models(latency, separate=separate)
    judge_model = roles.pop("_judge_model")
    kwargs = dict(task=TASK, samples=s, window=W, max_concurrency=cap, **roles)
    candidates = [f"candidate reply {i}" for i in range(k)]
    start = time.perf_counter()
    if mode == "async":
        rewards = asyncio.run(ascore_candidates(HISTORY, candidates, **kwargs))
    else:
        rewards = score_candidates(HISTORY, candidates, **kwargs)
    wall = time.perf_counter() - start
    assert all(r.n_failed == 0 for r in rewards), [s.error for r in rewards for s in r.samples]
    calls = sum(u.calls for r in rewards for u in r.usage.values())
    peak = max(
        roles["user"].max_in_flight, roles["assistant"].max_in_flight, judge_model.max_in_flight
    )
    return wall, calls / k, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"MR for K candidates x S futures x w={W} turns (median of {args.repeats})")
    header = (
        f"{'setting':<40} {'L (s)':>6} {'wall (s)':>9} {'ideal (s)':>9} {'ratio':>6} "
        f"{'calls/MR':>8} {'peak':>5}"
    )
    print(header)
    print("-" * len(header))
    settings = [
        ("K=4 S=3 async, combined judge", dict(mode="async"), 0.2),
        ("K=4 S=3 sync, combined judge", dict(mode="sync"), 0.2),
        ("K=4 S=3 async, separate judges", dict(mode="async", separate=True), 0.2),
        ("K=4 S=3 async, combined judge", dict(mode="async"), 0.02),
        ("K=4 S=3 sync, combined judge", dict(mode="sync"), 0.02),
        ("K=4 S=3 baseline: one future in flight", dict(mode="async", cap=1), 0.02),
        ("K=16 S=6 async, combined judge", dict(mode="async", k=16, s=6), 0.1),
        ("K=16 S=6 sync, combined judge", dict(mode="sync", k=16, s=6), 0.1),
    ]
    for name, options, latency in settings:
        sequential_calls = 2 * W + (
            2 if options.get("separate") else 1
        )  # extraction, then accuracy
        ideal = sequential_calls * latency
        runs = [
            run(latency, **options)
            for _ in range(args.repeats if options.get("cap") is None else 1)
        ]
        wall = statistics.median(r[0] for r in runs)
        _, calls, peak = runs[0]
        ratio = wall / ideal
        row = f"{name:<40} {latency:6.2f} {wall:9.3f} {ideal:9.3f} {ratio:6.2f}"
        print(f"{row} {calls:8.0f} {peak:5d}")


if __name__ == "__main__":
    main()
