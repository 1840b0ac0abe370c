"""Run BigCodeBench-style tasks the way BigCodeBench does: solution and tests in one plain
interpreter. Reads ``[{"id", "code", "test"}, ...]`` as JSON on stdin and prints
``{id: pass rate}``; used to check that the battery itself is right, and as the baseline
of ``benchmarks/pass_rate_check.py``.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import types
import unittest


def pass_rate(code: str, test: str) -> float:
    """The share of ``test``'s test methods that pass with ``code`` in this interpreter."""
    module = types.ModuleType("__bcb__")
    env, cwd = dict(os.environ), os.getcwd()
    try:
        exec(compile(code, "<solution>", "exec"), module.__dict__)
        exec(compile(test, "<tests>", "exec"), module.__dict__)
        cases = [v for v in module.__dict__.values()
                 if isinstance(v, type) and issubclass(v, unittest.TestCase)]  # fmt: skip
        suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(c)
                                   for c in cases)  # fmt: skip
        result = unittest.TextTestRunner(stream=io.StringIO()).run(suite)
    except Exception:
        return 0.0
    finally:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        if "matplotlib.pyplot" in sys.modules:  # each task starts with no figure, as alone
            sys.modules["matplotlib.pyplot"].close("all")
    bad = len(result.failures) + len(result.errors) + len(result.skipped)
    return (result.testsRun - bad) / result.testsRun if result.testsRun else 0.0


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    tasks = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as work:
        os.chdir(work)
        print(json.dumps({t["id"]: pass_rate(t["code"], t["test"]) for t in tasks}))
