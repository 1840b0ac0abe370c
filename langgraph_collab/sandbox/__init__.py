"""The sandbox: run untrusted, model-written Python confined, and score it on hidden tests
with a verdict the code cannot reach. Infrastructure for the ``pass_rate`` metric.

Example:
    >>> from langgraph_collab.sandbox import Limits, run_tests
    >>> tests = "import unittest\\nclass T(unittest.TestCase):\\n    def test(self):\\n" \\
    ...     "        self.assertEqual(inc(1), 2)\\n"
    >>> run_tests("def inc(x):\\n    return x + 1\\n", tests, Limits(timeout_s=10)).pass_rate
    1.0
"""

from langgraph_collab.sandbox._confine import hide
from langgraph_collab.sandbox.run import (
    Limits,
    SandboxResult,
    containment_info,
    run_tests,
    run_untrusted,
)

__all__ = ["Limits", "SandboxResult", "containment_info", "hide", "run_tests", "run_untrusted"]
