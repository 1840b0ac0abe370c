"""The caller's side of the test verdict: what the hidden tests define, what they take from
the solution, and whether the harness's report can be believed.

The parent reads both sources with ``ast`` and never runs them. It counts the test methods
the hidden tests define (the harness must report exactly that many run), and splits the
names the tests take from the solution into modules, which the harness imports itself, and
everything else, which stays in the sandboxed process behind a proxy.

Example:
    >>> tests = "import unittest\\nclass T(unittest.TestCase):\\n    def test_a(self): pass\\n"
    >>> count_test_methods(tests)
    1
    >>> bindings("import math\\ndef f(x):\\n    return math.sqrt(x)\\n", "f(math.pi)")
    (['f'], [('math', 'math', None)])
"""

from __future__ import annotations

import ast
import builtins
import json
from dataclasses import dataclass

_REPORT_KEYS = ("run", "passed", "failures", "errors", "skipped", "expected_failures")


def count_test_methods(tests: str) -> int:
    """Test methods (``test*``, own and inherited within the source) of the module-level
    ``TestCase`` subclasses that ``tests`` defines; raises ``SyntaxError``."""
    methods: dict[str, set[str]] = {}
    total = 0
    for node in ast.parse(tests).body:
        if not isinstance(node, ast.ClassDef):
            continue
        bases = [ast.unparse(b).rpartition(".")[2] for b in node.bases]
        if not any(b.endswith("TestCase") or b in methods for b in bases):
            continue
        own = {
            f.name
            for f in node.body
            if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) and f.name.startswith("test")
        }
        methods[node.name] = own.union(*(methods.get(b, set()) for b in bases))
        total += len(methods[node.name])
    return total


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    """Module-level statements, looking inside if / try / with blocks (not functions)."""
    out, todo = [], list(tree.body)
    while todo:
        node = todo.pop(0)
        out.append(node)
        for field in ("body", "orelse", "finalbody", "handlers"):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                todo.extend(getattr(node, field, []))
    return out


def bindings(solution: str, tests: str) -> tuple[list[str], list[tuple[str, str, str | None]]]:
    """(names served from the sandbox, (name, module, attribute) imported by the harness)
    for the free names of ``tests`` that the solution binds at module level. A module
    import, or ``from m import x`` without renaming, is redone by the harness; builtins are
    never rebound. An unparsable solution binds nothing (it fails on its own)."""
    try:
        tree = ast.parse(solution)
    except SyntaxError:
        return [], []
    imported: dict[str, tuple[str, str, str | None]] = {}
    defined: set[str] = set()
    for node in _top_level(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.partition(".")[0]
                imported[name] = (name, alias.name, None)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.asname in (None, alias.name) and alias.name != "*":
                    imported[alias.name] = (alias.name, node.module, alias.name)
                else:
                    defined.add(alias.asname or alias.name)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.For | ast.With):
            for target in ast.walk(node):
                if isinstance(target, ast.Name) and isinstance(target.ctx, ast.Store):
                    defined.add(target.id)
    wanted = {n.id for n in ast.walk(ast.parse(tests)) if isinstance(n, ast.Name)} - set(
        dir(builtins)
    )
    remote = sorted(wanted & defined)
    modules = [imported[n] for n in sorted(wanted & set(imported)) if n not in defined]
    return remote, modules


@dataclass(frozen=True)
class Verdict:
    """The believed outcome: ``error`` says why the report is void (then nothing passed)."""

    run: int = 0
    passed: int = 0
    failed: int = 0
    errored: int = 0
    error: str = ""


def read_report(raw: bytes, returncode: int | None, expected: int) -> Verdict:
    """Cross-check the harness's report: exactly one well-formed report, a zero exit, and
    as many tests run as the hidden source defines; skipped tests and expected failures
    never count as passed.

    Example:
        >>> read_report(b'{"run": 2, "passed": 2, "failures": 0, "errors": 0}\\n', 0, 2)
        Verdict(run=2, passed=2, failed=0, errored=0, error='')
        >>> read_report(b"", 0, 2).error
        'no test report: the tests did not finish'
    """
    lines = [line for line in raw.decode("utf-8", "replace").splitlines() if line.strip()]
    if not lines:
        return Verdict(error="no test report: the tests did not finish")
    if len(lines) > 1:
        return Verdict(error=f"{len(lines)} test reports where one was expected")
    try:
        report = json.loads(lines[0])
    except ValueError:
        return Verdict(error="a malformed test report")
    counts = [report.get(k, 0) if isinstance(report, dict) else None for k in _REPORT_KEYS]
    if not all(type(c) is int and c >= 0 for c in counts):
        return Verdict(error="a malformed test report")
    run, passed, failed, errored = counts[:4]
    verdict = Verdict(run, min(passed, run), failed, errored)
    if returncode != 0:
        return Verdict(run, 0, failed, errored, f"the harness exited with {returncode}")
    if run != expected:
        msg = f"{run} tests ran but the hidden tests define {expected}"
        return Verdict(run, 0, failed, errored, msg)
    return verdict
