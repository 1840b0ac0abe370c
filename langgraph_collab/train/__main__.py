"""``python -m langgraph_collab.train``: from tasks to a more collaborative model.

With no arguments it runs the embedded default end to end, offline: a few bundled tasks,
the embedded model in every role, its trainable twin as the policy, collection, DPO with
LoRA for a few steps, evaluation before and after, and a report. ``--config run.yaml`` and
flags fill the same configuration; ``--help`` lists every option. Under
``accelerate launch -m langgraph_collab.train --stages train ...`` it trains on several
processes.
"""

from __future__ import annotations

import os
import sys

from langgraph_collab.train.config import load_config
from langgraph_collab.train.pipeline import run_pipeline


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    config = load_config(argv)
    try:
        state = run_pipeline(config)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(state.get("report", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
