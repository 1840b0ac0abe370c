"""The trusted harness: runs the hidden tests in their own interpreter, never imported.

It never loads the model's code. The names the tests take from the solution are bound to
:class:`Remote` proxies: using one sends a request over a pipe to the sandboxed process
that holds the solution, and only plain data comes back (``_wire.loads_plain``), else an
opaque handle that has no ``__eq__`` or ``__hash__`` of its own. So every assertion runs
here, on values the code could compute but not redefine. Modules the solution imported are
imported here afresh. The verdict (one JSON line) goes to a pipe only this process holds;
it is not dumpable, so a process of the same uid cannot read its memory or descriptors.
``_wire.py``'s source is prepended (``dumps``, ``loads_plain``, ``send``, ``recv``, ``pickle``).
"""
# ruff: noqa: F821

import builtins
import ctypes
import importlib
import json
import os
import sys
import types
import unittest

_REFUSED = {"StopIteration", "StopAsyncIteration"}  # would end the caller's iteration


class Gone(RuntimeError):
    """The code's process stopped answering."""


class Channel:
    """Requests to the code's process, one at a time."""

    def __init__(self, requests, replies):
        self.requests, self.replies = requests, replies

    def receive(self):
        try:
            frame = recv(self.replies)
        except (OSError, ValueError) as exc:
            raise Gone(f"sandbox: broken channel to the code ({exc})") from None
        if frame is None:
            raise Gone("sandbox: the code's process has ended")
        return loads_plain(frame)

    def apply(self, op, hid, *args):
        try:
            payload = dumps((op, hid, args), persistent_id=_handle_id)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise TypeError(f"sandbox: this value cannot be passed to the code: {exc}") from None
        try:
            send(self.requests, payload)
        except OSError as exc:
            raise Gone(f"sandbox: the code's process has ended ({exc})") from None
        reply = self.receive()
        if reply[0] == "raise":
            raise _exception(reply[1], reply[2])
        if reply[0] == "many":
            return [self.value(enc) for enc in reply[1]]
        return self.value(reply[1])

    def value(self, encoded):
        hid, type_name, data = encoded
        if data is not None:
            try:
                return loads_plain(data, self.handle)
            except pickle.UnpicklingError:
                pass  # not plain data: the test gets an opaque handle instead
        return Remote(self, hid, str(type_name))

    def handle(self, hid):
        return Remote(self, hid, "object")


def _handle_id(obj):
    return object.__getattribute__(obj, "_hid") if type(obj) is Remote else None


class Remote:
    """An object that lives in the code's process. Equality and hashing stay identity;
    its truth, length, items and repr are asked for and come back as plain data."""

    __slots__ = ("_channel", "_hid", "_type")

    def __init__(self, channel, hid, type_name):
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_hid", hid)
        object.__setattr__(self, "_type", type_name)

    def _ask(self, op, *args, want=None):
        value = object.__getattribute__(self, "_channel").apply(
            op, object.__getattribute__(self, "_hid"), *args
        )
        if want is not None and type(value) is not want:
            raise TypeError(f"sandbox: {op}() of the code's object gave {type(value).__name__}")
        return value

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", name)

    def __setattr__(self, name, value):
        raise TypeError("sandbox: objects of the code's process are read-only here")

    def __call__(self, *args, **kwargs):
        return self._ask("call", args, kwargs)

    def __getitem__(self, key):
        return self._ask("getitem", key)

    def __len__(self):
        return self._ask("len", want=int)

    def __bool__(self):
        return self._ask("bool", want=bool)

    def __contains__(self, item):
        return self._ask("contains", item, want=bool)

    def __iter__(self):
        return iter(self._ask("iter"))

    def __repr__(self):
        return self._ask("repr", want=str)


def _exception(names, message):
    """A trusted exception standing for the code's: the first class in its MRO that is a
    builtin or belongs to a module the tests imported (never unittest's own, never one that
    ends an iteration), built here with the code's message."""
    for qualified in names:
        module, _, name = str(qualified).partition(":")
        if module.split(".")[0] == "unittest" or name.startswith("_") or name in _REFUSED:
            continue
        cls = getattr(sys.modules.get(module), name, None) if "." not in name else None
        if isinstance(cls, type) and issubclass(cls, Exception):
            try:
                return cls(str(message))
            except TypeError:
                continue
    return RuntimeError(f"{names[0] if names else 'exception'}: {message}")


class Outcomes(unittest.TextTestResult):
    """Counts per test: passed only through addSuccess (no skip, no expected failure)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = set()

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
        except (ImportError, AttributeError):
            continue  # the test then fails on the missing name, as it would have
    for name in cfg["remote"]:
        ns[name] = channel.apply("getattr", 0, name)


def _main():
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no ptrace, no /proc peeking
    cfg = json.loads(sys.stdin.read())
    channel = Channel(cfg["requests"], cfg["replies"])
    if channel.receive() != ("ready",):
        raise Gone("sandbox: the code's process did not start")
    mod = types.ModuleType("__test__")
    mod.__builtins__ = builtins
    sys.modules["__test__"], ns = mod, mod.__dict__
    _bind(ns, channel, cfg)
    exec(compile(cfg["tests"], "<hidden tests>", "exec"), ns)
    cases = {
        id(v): v
        for v in list(ns.values())
        if isinstance(v, type) and issubclass(v, unittest.TestCase) and v.__module__ == "__test__"
    }
    loader = unittest.TestLoader()
    suite = unittest.TestSuite(loader.loadTestsFromTestCase(c) for c in cases.values())
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
