"""One honest pass-rate check of a bundled reference: median wall time of 10 runs.

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/pass_rate_check.py``. The trusted
verdict starts two interpreters (the harness and the sandboxed code) instead of one.

Example:
    >>> median_check_s(runs=1) > 0  # doctest: +SKIP
    True
"""

from __future__ import annotations

import statistics
import time

from langgraph_collab.metrics.pass_rate import run_hidden_tests
from langgraph_collab.tasks import load_tasks


def median_check_s(runs: int = 10) -> float:
    """Median seconds of ``run_hidden_tests`` on the first bundled code task's reference."""
    task = load_tasks("code")[0]
    times = []
    for _ in range(runs + 1):  # the first run also probes the machine's containment
        start = time.perf_counter()
        score = run_hidden_tests(task.reference, task.metadata["test"])
        times.append(time.perf_counter() - start)
        if score != 1.0:
            raise SystemExit(f"the bundled reference of {task.id} scored {score}, not 1.0")
    return statistics.median(times[1:])


if __name__ == "__main__":
    print(f"pass-rate check, median of 10: {median_check_s():.3f} s")
