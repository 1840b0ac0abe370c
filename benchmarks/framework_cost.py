"""Framework CPU per model call at zero model latency: what the graphs, callbacks, roles
and scoring cost on top of the models themselves.

An MR of K=4 candidates x S=3 futures x w=2 turns (4 forward calls + the combined judge
per future: 60 calls) with scripted models that answer at once, run R times sync and R
times async (one event loop). Baseline in the same process: the same 60 calls made
directly on the scripted models (``model.invoke``), so the ratio shows the framework's
share. CPU is ``time.process_time`` (all threads of the process); the figures are the
min and median over ``--repeats`` rounds of ``--runs`` MRs each.

    python benchmarks/framework_cost.py [--runs 20] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from langchain_core.messages import AIMessage, HumanMessage

from langgraph_collab import Task, ascore_candidates, create_judge, score_candidates
from langgraph_collab.testing import ScriptedChatModel

K, S, W = 4, 3, 2
TASK = Task(id="bench", kind="math", request="What is 6 x 7?", reference="42")
HISTORY = [("user", "I need help with a multiplication")]
CANDIDATES = [f"candidate reply {k}" for k in range(K)]
VERDICT = '{"thought": "ok", "final_artifact": "42", "interactivity": "A", "correct": true}'
CALLS = K * S * (2 * W + 1)


def roles() -> dict:
    return {
        "user": ScriptedChatModel(script=["Could you explain more?"]),
        "assistant": ScriptedChatModel(script=["Sure, here is more detail."]),
        "judge": create_judge(ScriptedChatModel(script=[VERDICT])),
    }


def options() -> dict:
    return dict(task=TASK, samples=S, window=W, **roles())


def check(rewards: list) -> None:
    calls = sum(u.calls for r in rewards for u in r.usage.values())
    assert calls == CALLS and all(r.n_failed == 0 for r in rewards), calls


def sync_round(runs: int) -> float:
    kwargs = options()
    start = time.process_time()
    for _ in range(runs):
        check(score_candidates(HISTORY, CANDIDATES, **kwargs))
    return time.process_time() - start


def async_round(runs: int) -> float:
    kwargs = options()

    async def go() -> float:
        start = time.process_time()
        for _ in range(runs):
            check(await ascore_candidates(HISTORY, CANDIDATES, **kwargs))
        return time.process_time() - start

    return asyncio.run(go())


def bare_round(runs: int) -> float:
    """The same number of calls straight to the models: the floor."""
    model = ScriptedChatModel(script=["Sure, here is more detail."])
    messages = [HumanMessage("I need help"), AIMessage("candidate"), HumanMessage("more?")]
    start = time.process_time()
    for _ in range(runs * CALLS):
        model.invoke(messages)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rounds = {"bare model calls (baseline)": bare_round, "MR sync": sync_round,
              "MR async": async_round}  # fmt: skip
    for measure in rounds.values():
        measure(2)  # warm-up: imports, first compilation, token encodings
    print(f"MR K={K} x S={S} x w={W}, {CALLS} model calls per MR, L=0, {args.runs} MRs per round")
    print(
        f"{'CPU ms per model call':30} {'min':>7} {'median':>7} {'x baseline':>10} {'framework':>9}"
    )
    rows = {}
    for name, measure in rounds.items():
        per_call = [measure(args.runs) / (args.runs * CALLS) * 1000 for _ in range(args.repeats)]
        rows[name] = (min(per_call), statistics.median(per_call))
    base = rows["bare model calls (baseline)"][0]
    for name, (low, mid) in rows.items():
        print(f"{name:30} {low:7.3f} {mid:7.3f} {low / base:10.2f} {low - base:9.3f}")
    print("(x baseline and framework from the min: a shared VM's other load only adds time)")


if __name__ == "__main__":
    main()
