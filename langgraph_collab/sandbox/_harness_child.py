"""The trusted harness: runs the hidden tests in their own interpreter, never imported.

It never loads the model's code. The names the tests take from the solution are bound to
:class:`Remote` proxies (``_remote.py``, prepended): using one sends a request over a pipe
to the sandboxed process that holds the solution, and only plain data comes back
(``_wire.loads_plain``), else an opaque handle that has no ``__eq__`` or ``__hash__`` of its
own. So every assertion runs here, on values the code could compute but not redefine.
Each test method runs against a fresh fork of the code's process. Modules the solution
imported are imported here afresh. The verdict (one JSON line) goes to a pipe only this
process holds; it is not dumpable, so a process of the same uid cannot read its memory or
descriptors. ``_wire.py``'s source is prepended (``dumps``, ``loads_plain``, ``send``,
``recv``, ``pickle``).
"""
# ruff: noqa: F821

import builtins
import ctypes
import importlib
import importlib.machinery
import json
import os
import sys
import types
import unittest


class Outcomes(unittest.TextTestResult):
    """Counts per test: passed only through addSuccess (no skip, no expected failure).
    Each test method gets a fresh code process, forked from the one that loaded the code."""

    channel = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = set()

    def startTest(self, test):
        super().startTest(test)
        try:
            self.channel.fork()
        except Gone as exc:
            print(f"[sandbox] {exc}", file=sys.stderr)

    def stopTest(self, test):
        try:
            self.channel.end()
        except Gone as exc:
            print(f"[sandbox] {exc}", file=sys.stderr)
        super().stopTest(test)

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed.add(test.id())


def _bind(ns, channel, cfg):
    for name, module, attr in cfg["modules"]:
        try:
            value = importlib.import_module(module)
            if attr:
                value = getattr(value, attr)
            elif name == module.partition(".")[0]:  # import a.b binds a
                value = sys.modules[name]
            ns[name] = value
        except (ImportError, AttributeError) as exc:  # the test then fails on the name
            print(f"[sandbox] {name}: {exc}", file=sys.stderr)
    for name in cfg["remote"]:
        ns[name] = channel.apply("getattr", 0, name)


class Fresh:
    """Refuses to import a module file made or changed since the run began: one the code
    could have planted in a folder this process imports from (without root the two
    processes share a uid, so the code can write where the harness reads)."""

    def __init__(self, start):
        self.start = start

    def find_spec(self, name, path=None, target=None):
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        for file in (spec.origin, spec.cached) if spec is not None else ():
            if file and os.path.exists(file) and os.stat(file).st_ctime >= self.start:
                raise ImportError(f"sandbox: {file} was made while the code ran")
        return None  # the usual finders load it


def _main():
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no ptrace, no /proc peeking
    cfg = json.loads(sys.stdin.read())
    sys.meta_path.insert(0, Fresh(cfg["start"]))
    channel = Channel(cfg["requests"], cfg["replies"], cfg["share"])
    if channel.receive() != ("ready",):
        raise Gone("sandbox: the code's process did not start")
    mod = types.ModuleType("__test__")
    mod.__builtins__ = builtins
    sys.modules["__test__"], ns = mod, mod.__dict__
    _bind(ns, channel, cfg)
    exec(compile(cfg["tests"], "<hidden tests>", "exec"), ns)
    _track_patches()
    _follow_pyplot(channel)
    cases = {
        id(v): v
        for v in list(ns.values())
        if isinstance(v, type) and issubclass(v, unittest.TestCase) and v.__module__ == "__test__"
    }
    loader = unittest.TestLoader()
    suite = unittest.TestSuite(loader.loadTestsFromTestCase(c) for c in cases.values())
    Outcomes.channel = channel
    runner = unittest.TextTestRunner(stream=sys.stderr, resultclass=Outcomes)
    res = runner.run(suite)
    report = {"run": res.testsRun, "passed": len(res.passed), "failures": len(res.failures)}
    report |= {"errors": len(res.errors), "skipped": len(res.skipped)}
    report |= {"expected_failures": len(res.expectedFailures)}
    report |= {"unexpected_successes": len(res.unexpectedSuccesses)}
    sys.stderr.flush()
    sys.stdout.flush()
    os.write(cfg["report"], (json.dumps(report) + "\n").encode())
    os._exit(0)


_main()
