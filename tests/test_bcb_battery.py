"""The BigCodeBench-style battery (``tests/data/bcb_battery.py``): every right solution
scores exactly 1.0 in the sandbox, every wrong one less and exactly what it scores in one
plain interpreter, and the right ones pass in one plain interpreter too (so the battery
itself is right)."""

from __future__ import annotations

import collections
import functools
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from langgraph_collab.sandbox import Limits, run_tests
from tests.data.bcb_battery import TASKS

LIMITS = Limits(timeout_s=60, memory_mb=1000)
HERE = Path(__file__).parent
AVAILABLE = [t for t in TASKS if all(importlib.util.find_spec(m) for m in t["libs"])]


@functools.cache
def _plain(which: str) -> dict[str, float]:
    rows = [{"id": t["id"], "code": t[which], "test": t["test"]} for t in AVAILABLE]
    out = subprocess.run([sys.executable, str(HERE / "bcb_plain.py")], input=json.dumps(rows),
                         capture_output=True, text=True, check=True, timeout=600)  # fmt: skip
    return json.loads(out.stdout.splitlines()[-1])


def test_the_battery_covers_every_shape_three_times() -> None:
    shapes = collections.Counter(t["shape"] for t in TASKS)
    assert len(TASKS) >= 45 and len({t["id"] for t in TASKS}) == len(TASKS)
    assert min(shapes.values()) >= 3 and len(shapes) >= 14, shapes


def test_right_solutions_pass_in_one_plain_interpreter() -> None:
    scores = _plain("solution")
    assert scores == {t["id"]: 1.0 for t in AVAILABLE}
    wrong = _plain("wrong")
    assert all(wrong[t["id"]] < 1.0 for t in AVAILABLE), wrong


@pytest.mark.parametrize("task", AVAILABLE, ids=[t["id"] for t in AVAILABLE])
def test_right_scores_one_and_wrong_scores_less(task: dict) -> None:
    right = run_tests(task["solution"], task["test"], LIMITS)
    assert (right.status, right.pass_rate) == ("ok", 1.0), right.stderr_tail[-3000:]
    wrong = run_tests(task["wrong"], task["test"], LIMITS)
    assert wrong.pass_rate < 1.0, wrong.stderr_tail[-3000:]
    assert wrong.pass_rate == _plain("wrong")[task["id"]], "scored unlike one interpreter"
