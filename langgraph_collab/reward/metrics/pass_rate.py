"""Pass rate of the extracted code on the task's hidden unit tests, run in the sandbox.

Example:
    >>> extract_code("Here:\\n```python\\ndef f():\\n    return 1\\n```\\nDone.")
    'def f():\\n    return 1'
"""

from __future__ import annotations

import re
from typing import Any

from langgraph_collab.reward.metrics.base import MetricError, MetricInput
from langgraph_collab.sandbox import Limits, run_tests

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
DEFAULT_LIMITS = Limits(timeout_s=60.0, memory_mb=1024)
"""The paper's 60 s per run for BigCodeBench-Chat. Its 300 MB is resident memory, while the
sandbox caps address space (RLIMIT_AS), which numpy + pandas + matplotlib alone take past
300 MB once imported: 1 GiB of address space keeps right plotting and DataFrame code
scoring right."""


def extract_code(text: str, entry_point: str | None = None) -> str:
    """The code in a reply: the fenced block defining ``entry_point`` (else the longest
    fenced block), or the whole text when there is no fence."""
    blocks = [block.strip() for block in _FENCE.findall(text)]
    if not blocks:
        return text.strip()
    if entry_point:
        defining = [b for b in blocks if re.search(rf"\bdef\s+{re.escape(entry_point)}\b", b)]
        if defining:
            return defining[-1]
    return max(blocks, key=len)


def run_hidden_tests(code: str, tests: str, **limits: Any) -> float:
    """Pass rate of ``code`` on ``tests`` in the sandbox; raises :class:`MetricError` when
    the sandbox itself failed (so the sample is masked rather than scored 0)."""
    result = run_tests(code, tests, DEFAULT_LIMITS, **limits)
    if result.status == "internal":
        raise MetricError(result.stderr_tail)
    return result.pass_rate


def pass_rate(sample: MetricInput) -> float:
    """Fraction of the task's hidden tests (``metadata["test"]``) the extracted code passes."""
    tests = sample.task.metadata.get("test")
    if not tests:
        raise MetricError(f"code task {sample.task.id!r} has no metadata['test']")
    code = extract_code(sample.artifact, sample.task.metadata.get("entry_point"))
    if not code:
        return 0.0
    return run_hidden_tests(code, tests)
