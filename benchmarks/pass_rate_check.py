"""The cost of the trusted pass-rate check.

``median_check_s``: one honest check of a bundled reference, median wall time of 10 runs.
``battery_s``: the BigCodeBench-style battery's right solutions (``tests/data/
bcb_battery.py``), scored one after another in the sandbox, against the same tasks run the
way BigCodeBench runs them (solution and tests in one plain interpreter, ``tests/bcb_plain.py``).

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/pass_rate_check.py [--battery]``.

Example:
    >>> median_check_s(runs=1) > 0  # doctest: +SKIP
    True
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from langgraph_collab.reward.metrics.pass_rate import DEFAULT_LIMITS, run_hidden_tests
from langgraph_collab.sandbox import run_tests
from langgraph_collab.tasks import load_tasks

ROOT = Path(__file__).resolve().parent.parent


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


def battery_s() -> tuple[float, float, int]:
    """(sandbox seconds, plain-interpreter seconds, tasks) for the battery's right solutions."""
    sys.path.insert(0, str(ROOT))
    from tests.data.bcb_battery import TASKS

    start = time.perf_counter()
    for task in TASKS:
        result = run_tests(task["solution"], task["test"], DEFAULT_LIMITS)
        if result.pass_rate != 1.0:
            raise SystemExit(f"{task['id']} scored {result.pass_rate} in the sandbox")
    sandbox = time.perf_counter() - start
    rows = [{"id": t["id"], "code": t["solution"], "test": t["test"]} for t in TASKS]
    start = time.perf_counter()
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "bcb_plain.py")], check=True,
                         input=json.dumps(rows), capture_output=True, text=True)  # fmt: skip
    plain = time.perf_counter() - start
    if set(json.loads(out.stdout.splitlines()[-1]).values()) != {1.0}:
        raise SystemExit("a right solution failed in the plain interpreter")
    return sandbox, plain, len(TASKS)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--battery", action="store_true", help="also time the battery")
    if parser.parse_args().battery:
        sandbox, plain, n = battery_s()
        print(f"battery of {n}: sandbox {sandbox:.1f} s, one plain interpreter {plain:.1f} s")
    print(f"pass-rate check, median of 10: {median_check_s():.3f} s")
