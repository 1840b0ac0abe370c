"""Simulator fidelity with the embedded model as the user: rule-check rejections before the
guard (checks only) and after it (turns regenerated), the extra model calls the guard costs,
mean turns and stop reasons. Same tasks, same seed, both runs in this process.

    python benchmarks/simulator_fidelity.py [--per-kind 5] [--max-turns 3] [--seed 0]
        [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from langchain_core.messages import HumanMessage

from langgraph_collab import create_conversation_graph
from langgraph_collab.reward.conversation import recursion_limit
from langgraph_collab.reward.fidelity import FidelityGuard, create_fidelity_guard
from langgraph_collab.roles.local import load_local_model
from langgraph_collab.state import FidelityCounts
from langgraph_collab.tasks import load_tasks
from langgraph_collab.tracing import UsageLedger

KINDS = ("math", "code", "document", "ambiguity")


def audit(out: dict, guard: FidelityGuard) -> Counter:
    """First failing rule check of each user turn the simulator wrote and kept."""
    failed: Counter = Counter()
    messages = out["messages"]
    for i, message in enumerate(messages):
        if not isinstance(message, HumanMessage) or (i == 0 and out["task"].opening):
            continue
        reasons = guard.check(message.text, task=out["task"], messages=messages[:i])
        failed[reasons[0] if reasons else "ok"] += 1
    return failed


def run(tasks, *, fidelity, user, assistant, max_turns) -> dict:
    graph = create_conversation_graph(
        user=user, assistant=assistant, max_turns=max_turns, fidelity=fidelity,
        grounded_stop=True,
    )  # fmt: skip
    ledger, checks = UsageLedger(), create_fidelity_guard()
    kept, counts, stops, turns = Counter(), FidelityCounts(), Counter(), []
    start = time.perf_counter()
    for task in tasks:
        config = {"callbacks": [ledger], "recursion_limit": recursion_limit(max_turns)}
        out = graph.invoke({"messages": [], "task": task, "turn": 0}, config)
        kept += audit(out, checks)
        counts += out.get("fidelity") or FidelityCounts()
        stops[out.get("stop_reason") or "unknown"] += 1
        turns.append(out.get("turn", 0))
    usage = ledger.by_role()
    return {
        "kept": kept, "counts": counts, "stops": stops, "turns": sum(turns) / len(turns),
        "calls": sum(u.calls for u in usage.values()),
        "user_calls": usage.get("simulated_user").calls if "simulated_user" in usage else 0,
        "seconds": time.perf_counter() - start,
    }  # fmt: skip


def share(counter: Counter, total: int) -> str:
    parts = [f"{reason} {100 * n / total:.0f}%" for reason, n in counter.most_common()]
    return ", ".join(parts) if parts else "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=5)
    parser.add_argument("--max-turns", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    tasks = [t for kind in KINDS for t in load_tasks(kind, limit=args.per_kind)]
    model = load_local_model(max_tokens=args.max_tokens, seed=args.seed, n_ctx=4096)
    print(f"{len(tasks)} tasks ({args.per_kind} per kind), max_turns={args.max_turns}, "
          f"embedded SmolLM2-135M as user and assistant, seed {args.seed}")  # fmt: skip
    print("| run | user turns written | rejected (regenerated) | kept turns failing a rule "
          "| model calls (+%) | mean turns | stop reasons | s |", flush=True)  # fmt: skip
    print("|---|---|---|---|---|---|---|---|", flush=True)
    base_calls = 0
    for name, fidelity in (("checks only", False), ("guard (2 retries)", True)):
        r = run(tasks, fidelity=fidelity, user=model, assistant=model, max_turns=args.max_turns)
        base_calls = base_calls or r["calls"]
        kept_total = sum(r["kept"].values())
        failing = Counter({k: v for k, v in r["kept"].items() if k != "ok"})
        written = r["counts"].generated if name != "checks only" else kept_total
        rejected = Counter(r["counts"].rejected)
        print(
            f"| {name} | {written} | {share(rejected, written) if written else 'n/a'} | "
            f"{share(failing, kept_total) if kept_total else 'n/a'} "
            f"({sum(failing.values())}/{kept_total}) | {r['calls']} "
            f"({100 * (r['calls'] - base_calls) / base_calls:+.0f}%) | {r['turns']:.2f} | "
            f"{dict(r['stops'])} | {r['seconds']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
