"""Score two candidate replies of the bundled conversation with the Multiturn-aware Reward.

Every role (simulated user, future assistant, judge) is played by one model, the embedded
SmolLM2-135M-Instruct unless ``--model`` names another (``openai:gpt-4o-mini``, ...).

    python examples/score_replies.py [--model local] [--samples 3] [--window 2]
"""

from __future__ import annotations

import argparse
import time

from langgraph_collab import MultiturnReward, load_chat_model, score_candidates
from langgraph_collab.tasks import demo_example


def table(rewards: list[MultiturnReward]) -> str:
    """The MR table: one row per candidate, mean ± standard error and each component."""
    names = [n for n in rewards[0].components if n != "tokens"] if rewards[0].components else []
    head = f"{'candidate':<48} {'MR':>7} {'± se':>6} " + " ".join(f"{n:>13}" for n in names)
    rows = [head + f" {'tokens':>7} {'failed':>6} {'calls':>5}", "-" * (len(head) + 22)]
    for reward in rewards:
        text = reward.candidate.text.replace("\n", " ")
        text = text if len(text) <= 48 else text[:45] + "..."
        mean = f"{reward.mean:7.3f}" if reward.mean is not None else f"{'n/a':>7}"
        values = " ".join(f"{reward.components.get(n, float('nan')):13.3f}" for n in names)
        calls = sum(usage.calls for usage in reward.usage.values())
        tokens = reward.components.get("tokens", float("nan"))
        rows.append(
            f"{text:<48} {mean} {reward.stderr:6.3f} {values} {tokens:7.0f} "
            f"{reward.n_failed:6d} {calls:5d}"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local", help="model spec for every role")
    parser.add_argument("--samples", type=int, default=3, help="forward samples per reply (S)")
    parser.add_argument("--window", type=int, default=2, help="future turns per sample (w)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the embedded model")
    args = parser.parse_args()

    options = {"seed": args.seed, "max_tokens": 160} if args.model.startswith("local") else {}
    model = load_chat_model(args.model, **options)
    task, conversation, candidates = demo_example()
    print(f"Task (hidden from the assistant): {task.request}")
    print(f"Conversation so far: {conversation[-1].text!r}")
    print(f"Scoring {len(candidates)} replies, S={args.samples} futures of w={args.window} turns")
    start = time.perf_counter()
    rewards = score_candidates(
        conversation,
        candidates,
        task=task,
        user=model,
        assistant=model,
        judge=model,
        samples=args.samples,
        window=args.window,
    )
    print(table(rewards))
    best = max(rewards, key=lambda r: r.mean if r.mean is not None else float("-inf"))
    print(f"\nBest reply: {best.candidate.text!r}  ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
