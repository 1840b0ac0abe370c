"""Evaluate assistants the way the paper does: whole simulated conversations on held-out
tasks, with the task metric, tokens and interactivity (plus ask-rates for ambiguity items).

    python examples/evaluate_models.py [--model local] [--tasks math,ambiguity] [--limit 2]

Compares the base model with its "Proactive Base" variant; add your trained policy to
``assistants`` (e.g. ``ChatTransformers`` over the trained HF model, or a vLLM endpoint).
"""

from __future__ import annotations

import argparse

from langgraph_collab import evaluate, load_chat_model
from langgraph_collab.evaluation.run import baseline_assistants
from langgraph_collab.tasks import load_tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local", help="model spec for every role")
    parser.add_argument("--tasks", default="math,ambiguity", help="comma-separated task sets")
    parser.add_argument("--limit", type=int, default=2, help="test tasks per set")
    parser.add_argument("--turns", type=int, default=2, help="assistant turns per conversation")
    parser.add_argument("--out", default="runs/evaluation", help="where the report goes")
    args = parser.parse_args()

    options = {"seed": 0, "max_tokens": 96} if args.model.startswith("local") else {}
    model = load_chat_model(args.model, **options)
    tasks = [
        task
        for name in args.tasks.split(",")
        for task in load_tasks(name.strip(), split="test", limit=args.limit)
    ]
    report = evaluate(
        tasks, assistants=baseline_assistants(model), user=model, judge=model, max_turns=args.turns
    )
    print(report.to_markdown())
    paths = report.save(args.out)
    print("\nSaved: " + ", ".join(str(path) for path in paths.values()))


if __name__ == "__main__":
    main()
