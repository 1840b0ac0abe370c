"""Train with a YAML config: the pipeline of ``python -m langgraph_collab.train`` from code.

    python examples/train_with_config.py [--config examples/configs/demo_dpo_math.yaml] [--fast]

The YAML file and any extra flags fill the same configuration (flags win), exactly as on
the command line. ``--fast`` shrinks the run to one training task, two DPO steps and a short
evaluation (a few minutes on two CPU cores with the embedded model).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from langgraph_collab.train.config import load_config
from langgraph_collab.train.pipeline import run_pipeline

DEFAULT = Path(__file__).parent / "configs" / "demo_dpo_math.yaml"
FAST = [
    "--train-limit", "2", "--eval-limit", "1", "--max-steps", "2", "--eval-max-turns", "1",
    "--max-messages", "4", "--samples", "1", "--compare", "base,trained", "--min-gap", "0",
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT), help="a YAML training configuration")
    parser.add_argument("--fast", action="store_true", help="a tiny run, for a quick look")
    args, extra = parser.parse_known_args()
    config = load_config(["--config", args.config, *(FAST if args.fast else []), *extra])
    state = run_pipeline(config)
    print(state.get("report", ""))
    print(f"Everything is in {config.run_dir}/")


if __name__ == "__main__":
    main()
