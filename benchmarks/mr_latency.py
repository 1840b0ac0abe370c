"""MR latency with a fixed injected model latency L: how close is the reward graph to the
ideal critical path (one future's sequential calls x L, all futures in parallel)?

K=4 candidates x S=3 futures x w=2 turns (and K=16 x S=6 at the end); a user that never
ends the chat, so each future is 4 forward calls + the judge. Baselines run in the same
process: the ideal critical path, and the same graph capped at one future in flight (the
reference code's way).

An async MR is timed inside its event loop: ``asyncio.run`` itself is not the MR's cost
(on Python 3.11 its teardown formats the repr of the main task, its result included:
tens of ms for 16 rewards). On Python >= 3.12 the async rows are repeated on a loop with
``asyncio.eager_task_factory``. Each setting's roles are built once and its first MR is
not timed: a process that scores many MRs (collection, a TRL reward function) reuses its
models and so the reward graph compiled for them (~8 ms a compile). ``GC ms`` is the time
the garbage collector ran during the MR (median): a full collection walks every object of
the process, the imported libraries' included; ``--freeze`` calls ``gc.freeze()`` after
the warm-up, as a process that scores many MRs may.

    python benchmarks/mr_latency.py [--repeats 3] [--freeze]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time

from langgraph_collab import Task, ascore_candidates, create_judge, score_candidates
from langgraph_collab.testing import ScriptedChatModel, separate_judges_script

K, S, W = 4, 3, 2
TASK = Task(id="bench", kind="math", request="What is 6 x 7?", reference="42")
HISTORY = [("user", "I need help with a multiplication")]
VERDICT = '{"thought": "ok", "final_artifact": "42", "interactivity": "A", "correct": true}'


ROLES: dict[tuple[float, bool], dict] = {}
"""Each setting's roles, built once: a process that scores many MRs (collection, a TRL
reward function) reuses its models, and so the reward graph compiled for them."""


def models(latency: float, *, separate: bool = False) -> dict:
    user = ScriptedChatModel(script=["Could you explain more?"], latency=latency)
    assistant = ScriptedChatModel(script=["Sure, here is more detail."], latency=latency)
    judge_model = ScriptedChatModel(
        script=separate_judges_script("42") if separate else [VERDICT], latency=latency
    )
    judge = create_judge(judge_model, combined=not separate)
    return {"user": user, "assistant": assistant, "judge": judge, "_judge_model": judge_model}


class GCTimer:
    """Seconds the garbage collector ran since :meth:`reset` (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds, self._started = 0.0, 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def reset(self) -> None:
        self.seconds = 0.0


GC_TIMER = GCTimer()


async def timed(coroutine, *, eager: bool = False):
    """``coroutine``'s result and its wall seconds, timed inside the running loop."""
    if eager:
        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
    start = time.perf_counter()
    result = await coroutine
    return result, time.perf_counter() - start


def run(
    latency: float,
    *,
    mode: str = "async",
    eager: bool = False,
    separate: bool = False,
    cap: int | None = None,
    k: int = K,
    s: int = S,
):
    """One MR: its wall seconds, model calls per candidate, peak calls in flight and the
    garbage collector's seconds during it."""
    if (latency, separate) not in ROLES:
        ROLES[latency, separate] = models(latency, separate=separate)
    roles = dict(ROLES[latency, separate])
    judge_model = roles.pop("_judge_model")
    for model in (roles["user"], roles["assistant"], judge_model):
        model.calls = model.max_in_flight = 0
    kwargs = dict(task=TASK, samples=s, window=W, max_concurrency=cap, **roles)
    candidates = [f"candidate reply {i}" for i in range(k)]
    GC_TIMER.reset()
    if mode == "async":
        coroutine = ascore_candidates(HISTORY, candidates, **kwargs)
        rewards, wall = asyncio.run(timed(coroutine, eager=eager))
    else:
        start = time.perf_counter()
        rewards = score_candidates(HISTORY, candidates, **kwargs)
        wall = time.perf_counter() - start
    gc_seconds = GC_TIMER.seconds
    assert all(r.n_failed == 0 for r in rewards), [s.error for r in rewards for s in r.samples]
    calls = sum(u.calls for r in rewards for u in r.usage.values())
    peak = max(
        roles["user"].max_in_flight, roles["assistant"].max_in_flight, judge_model.max_in_flight
    )
    return wall, calls / k, peak, gc_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--freeze", action="store_true", help="gc.freeze() after the warm-up")
    args = parser.parse_args()
    print(f"MR for K candidates x S futures x w={W} turns (min and median of {args.repeats})")
    header = (
        f"{'setting':<40} {'L (s)':>6} {'wall (s)':>9} {'ideal (s)':>9} {'min':>5} "
        f"{'ratio':>6} {'GC ms':>6} {'calls/MR':>8} {'peak':>5}"
    )
    print(header)
    print("-" * len(header))
    eager = hasattr(asyncio, "eager_task_factory")  # Python >= 3.12
    settings = [
        ("K=4 S=3 async, combined judge", dict(mode="async"), 0.2),
        ("K=4 S=3 async, eager tasks", dict(mode="async", eager=True), 0.2),
        ("K=4 S=3 sync, combined judge", dict(mode="sync"), 0.2),
        ("K=4 S=3 async, separate judges", dict(mode="async", separate=True), 0.2),
        ("K=4 S=3 async, combined judge", dict(mode="async"), 0.02),
        ("K=4 S=3 async, eager tasks", dict(mode="async", eager=True), 0.02),
        ("K=4 S=3 sync, combined judge", dict(mode="sync"), 0.02),
        ("K=4 S=3 baseline: one future in flight", dict(mode="async", cap=1), 0.02),
        ("K=16 S=6 async, combined judge", dict(mode="async", k=16, s=6), 0.1),
        ("K=16 S=6 async, eager tasks", dict(mode="async", eager=True, k=16, s=6), 0.1),
        ("K=16 S=6 sync, combined judge", dict(mode="sync", k=16, s=6), 0.1),
    ]
    run(0.0)  # warm-up: the first MR imports and compiles what the others reuse
    if args.freeze:
        gc.freeze()
    for name, options, latency in settings:
        if options.get("eager") and not eager:
            continue
        sequential_calls = 2 * W + (
            2 if options.get("separate") else 1
        )  # extraction, then accuracy
        ideal = sequential_calls * latency
        run(latency, **options)  # untimed: compiles the reward graph for these roles
        runs = [
            run(latency, **options)
            for _ in range(args.repeats if options.get("cap") is None else 1)
        ]
        wall = statistics.median(r[0] for r in runs)
        gc_ms = 1000 * statistics.median(r[3] for r in runs)
        _, calls, peak, _ = runs[0]
        row = (
            f"{name:<40} {latency:6.2f} {wall:9.3f} {ideal:9.3f} "
            f"{min(r[0] for r in runs) / ideal:5.2f} {wall / ideal:6.2f} {gc_ms:6.0f}"
        )
        print(f"{row} {calls:8.0f} {peak:5d}")
    if not eager:
        print("(the eager-task rows need Python >= 3.12: asyncio.eager_task_factory)")


if __name__ == "__main__":
    main()
