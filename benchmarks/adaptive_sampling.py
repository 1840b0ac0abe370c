"""Adaptive forward sampling: model calls saved, and how often the raced choice of the best
candidate agrees with the choice of the full S futures, over many seeded decisions.

Each decision: K candidates, each with a hidden quality q drawn per seed; a noisy scripted
user (ends the chat early or asks again, at random) and a noisy scripted judge (the
answer right and graded A with probability q, else wrong and graded B or C) play every
future. Both draw from a generator seeded by (seed, candidate, sample, turn), so a future
gives the same reward whether it runs in the full run or in the raced one: the two runs
differ only in how many futures each candidate gets. Both runs go through the real reward
graph (``score_candidates``); calls are counted by its usage ledger.

    python benchmarks/adaptive_sampling.py [--decisions 200] [--samples 6] [--window 1]
        [--z 1.0] [--min-spread 0.5]
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from langgraph_collab import Task, score_candidates
from langgraph_collab.reward.adaptive import AdaptiveSampling
from langgraph_collab.reward.scoring import best_index

TASK = Task(id="bench", kind="math", request="What is 6 x 7?", reference="42")
HISTORY = [("user", "I need help with a multiplication")]


class Seeded(BaseChatModel):
    """Replies ``reply(rng, metadata)`` with ``rng`` seeded by the run's seed, candidate, sample and
    the number of messages so far (the turn)."""

    reply: Any
    seed: int = 0

    @property
    def _llm_type(self) -> str:
        return "seeded"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        meta = run_manager.metadata
        key = f"{self.seed}/{meta['candidate_index']}/{meta['sample_index']}/{len(messages)}"
        text = self.reply(random.Random(key), meta)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])


def user_reply(rng: random.Random, meta: dict) -> str:
    if rng.random() < 0.4:
        return "Thanks, that is all. [[TERMINATE CHAT]]"
    return rng.choice(["Could you explain that step?", "Why is that so?", "And then?"])


def judge_for(quality: list[float], seed: int) -> Seeded:
    """Right (answer 42, grade A) with probability ``quality[candidate]``, else wrong."""

    def reply(rng: random.Random, meta: dict) -> str:
        right = rng.random() < quality[meta["candidate_index"]]
        grade = "A" if right else rng.choice("BC")
        answer = 42 if right else 41
        return (
            f'{{"thought": "t", "final_artifact": "{answer}", "interactivity": "{grade}", '
            f'"correct": {"true" if right else "false"}}}'
        )

    return Seeded(reply=reply, seed=seed)


def decide(seed: int, k: int, samples: int, window: int, adaptive: AdaptiveSampling | None):
    rng = random.Random(seed)
    quality = [rng.uniform(0.1, 0.9) for _ in range(k)]
    rewards = score_candidates(
        HISTORY, [f"candidate reply {i}" for i in range(k)], task=TASK, samples=samples,
        window=window, adaptive=adaptive, max_concurrency=1,
        user=Seeded(reply=user_reply, seed=seed),
        assistant=Seeded(reply=lambda rng, meta: "Here is more detail.", seed=seed),
        judge=judge_for(quality, seed),
    )  # fmt: skip
    calls = sum(u.calls for r in rewards for u in r.usage.values())
    return best_index([r.mean for r in rewards]), calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--samples", type=int, default=6)
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--z", type=float, default=1.0)
    parser.add_argument("--first", type=int, default=2)
    parser.add_argument("--min-spread", type=float, default=AdaptiveSampling.min_spread)
    args = parser.parse_args()
    rule = AdaptiveSampling(first=args.first, z=args.z, min_spread=args.min_spread)
    full_calls = raced_calls = agree = 0
    start = time.perf_counter()
    for seed in range(args.decisions):
        full, calls = decide(seed, args.candidates, args.samples, args.window, None)
        raced, fewer = decide(seed, args.candidates, args.samples, args.window, rule)
        full_calls, raced_calls, agree = (
            full_calls + calls,
            raced_calls + fewer,
            agree + (full == raced),
        )
    n = args.decisions
    print(
        f"{n} decisions, K={args.candidates}, S={args.samples}, w={args.window}, "
        f"AdaptiveSampling(first={args.first}, z={args.z}, min_spread={args.min_spread}) "
        f"({time.perf_counter() - start:.0f} s)"
    )
    print(f"model calls: full {full_calls}, raced {raced_calls} "
          f"({1 - raced_calls / full_calls:.1%} fewer)")  # fmt: skip
    print(f"same choice as the full run: {agree}/{n} ({agree / n:.1%})")


if __name__ == "__main__":
    main()
