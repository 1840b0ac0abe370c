"""The code's side of the call protocol, never imported: prepended (after ``_wire.py``) to
``_sandbox_child.py`` in the sandboxed process that loads the solution.

:func:`serve` answers the harness's requests on objects of the solution. Before a call (or
a ``next``) it takes on the state the harness sent (the generators' states, the environment,
the current directory, logging levels, the tests' patches: a mock becomes a :class:`Far`
proxy that calls back into the harness), captures printed text and log records, and after
it sends back the generators' states, the text, the records and the arguments it mutated.
``("fork",)`` gives each test method a fresh process forked from this one.
"""
# ruff: noqa: F821

import contextlib
import importlib
import logging
import random
import sys
import warnings

_MISSING = object()
_HANDLES = []  # objects of this process the harness holds handles to
_CHANNEL = {"release": lambda: None}
_CLEAN_END = 77  # a test's process that ends on the harness's ("end",)


def _handle(obj):
    if type(obj) is Far:
        return ("h", object.__getattribute__(obj, "_cid"))
    _HANDLES.append(obj)
    kind = type(obj)
    return ("c", len(_HANDLES) - 1, str(kind.__module__), str(kind.__qualname__))


def _encode(value):
    """(data or None, a handle for the whole value): the harness decides which it takes."""
    try:
        data = dumps_split(value, _handle)
    except BaseException:
        data = None
    return data, _handle(value)


def _send_reply(message):
    send(_CHANNEL["replies"], dumps(message))


def _receive():
    frame = recv(_CHANNEL["requests"])
    if frame is None:
        os._exit(0)
    unpickler = pickle.Unpickler(io.BytesIO(frame))
    unpickler.persistent_load = _far
    return unpickler.load()


def _far(pid):
    return _HANDLES[pid[1]] if pid[0] == "c" else Far(pid[1])


class Far:
    """An object of the harness (a mock, a function or object the tests passed): every use
    is a callback answered there."""

    __slots__ = ("_cid",)

    def __init__(self, cid):
        object.__setattr__(self, "_cid", cid)

    def _back(self, op, name=None, *args, **kwargs):
        cid = object.__getattribute__(self, "_cid")
        send(
            _CHANNEL["replies"],
            dumps(("callback", (cid, op, name), dumps_split((args, kwargs), _handle))),
        )
        while True:
            message = _receive()
            if message[0] != "answer":
                _answer(message)  # the harness calls into this process meanwhile
                continue
            if message[1] == "stop":
                raise StopIteration
            if message[1] == "raise":
                raise _rebuilt(message[2], message[3])
            return message[2]

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._back("getattr", name)

    def __call__(self, *args, **kwargs):
        return self._back("call", None, *args, **kwargs)

    def __iter__(self):
        return self._back("iter")

    def __next__(self):
        return self._back("method", "__next__")

    def __enter__(self):
        return self._back("method", "__enter__")

    def __exit__(self, *exc):
        return bool(self._back("method", "__exit__", None, None, None))

    def __len__(self):
        return self._back("method", "__len__")

    def __bool__(self):
        return self._back("method", "__bool__")

    def __str__(self):
        return self._back("method", "__str__")

    def __repr__(self):
        return self._back("method", "__repr__")

    def __int__(self):
        return self._back("method", "__int__")

    def __float__(self):
        return self._back("method", "__float__")

    def __index__(self):
        return self._back("method", "__index__")

    def __getitem__(self, key):
        return self._back("method", "__getitem__", key)

    def __contains__(self, item):
        return self._back("method", "__contains__", item)


def _rebuilt(names, message):
    for qualified in names:
        module, _, name = str(qualified).partition(":")
        with contextlib.suppress(Exception):
            cls = importlib.import_module(module)
            for part in name.split("."):
                cls = getattr(cls, part)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                return cls(message)
    return RuntimeError(message)


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(0)
        self.records = []

    def emit(self, record):
        with contextlib.suppress(Exception):
            fields = dict(name=record.name, levelno=record.levelno, msg=record.getMessage())
            fields |= dict(levelname=record.levelname, pathname=record.pathname)
            fields |= dict(lineno=record.lineno, funcName=record.funcName)
            if record.exc_info:
                fields["exc_text"] = logging.Formatter().formatException(record.exc_info)
            self.records.append(fields)


def _enter(state):
    """Take on the harness's state for one call; returns what :func:`_leave` undoes."""
    random.setstate(state["random"])
    if "numpy" in state:
        importlib.import_module("numpy").random.set_state(state["numpy"])
    os.environ.clear()
    os.environ.update(state["env"])
    with contextlib.suppress(OSError, TypeError):
        os.chdir(state["cwd"])
    undo = []
    for name, level in state["levels"].items():
        logger = logging.getLogger(name) if name else logging.root
        undo.append((logger.setLevel, logger.level))
        logger.setLevel(level)
    logging.disable(state["disable"])
    for where, name, value in state["patches"]:
        with contextlib.suppress(ImportError, AttributeError, TypeError):  # not here: unused
            if isinstance(where, str):
                target = importlib.import_module(where)
            else:
                target = importlib.import_module(where[0])
                for part in where[1].split("."):
                    target = getattr(target, part)
            old = vars(target).get(name, _MISSING)
            setattr(target, name, value)
            undo.append((lambda t, n, o: delattr(t, n) if o is _MISSING else setattr(t, n, o),
                         target, name, old))  # fmt: skip
    capture = _Capture()
    logging.root.addHandler(capture)
    caught = warnings.catch_warnings(record=True)
    capture.warnings = caught.__enter__()
    warnings.simplefilter("always")  # the tests' own filters decide once re-emitted there
    streams = (sys.stdout, sys.stderr)
    sys.stdout, sys.stderr = (io.TextIOWrapper(io.BytesIO(), "utf-8", write_through=True)
                              for _ in streams)  # fmt: skip
    return undo, (capture, caught), streams, "numpy" in state


def _leave(entered, args):
    undo, (capture, caught), streams, numpy = entered
    out, err = (s.buffer.getvalue().decode("utf-8", "replace") for s in (sys.stdout, sys.stderr))
    sys.stdout, sys.stderr = streams
    logging.root.removeHandler(capture)
    caught.__exit__(None, None, None)
    for step in reversed(undo):
        with contextlib.suppress(Exception):
            step[0](*step[1:])
    for text, stream in ((out, sys.stdout), (err, sys.stderr)):
        with contextlib.suppress(Exception):
            stream.write(text)  # also into this process's own output (its limits apply)
            stream.flush()
    after = {"out": out[:4_000_000], "err": err[:4_000_000], "logs": capture.records[:10_000]}
    after["warnings"] = [
        ([f"{c.__module__}:{c.__qualname__}" for c in w.category.__mro__], str(w.message)[:4000],
         str(w.filename), int(w.lineno or 0))
        for w in capture.warnings[:1000]
    ]  # fmt: skip
    after["random"] = random.getstate()
    if numpy:
        after["numpy"] = sys.modules["numpy"].random.get_state()
    changed = []
    if args is not None:
        for key, (value, before) in args.items():
            with contextlib.suppress(BaseException):
                now = dumps_split(value, _handle)
                if now != before:
                    changed.append((key, now))
    after["args"] = changed
    if _CHANNEL["share"]:
        share(_CHANNEL["share"])
    return after


def _mutable(args, kwargs):
    """The arguments whose in-place changes go back to the tests, pickled before the call."""
    out = {}
    for key, value in [*enumerate(args), *kwargs.items()]:
        kind = type(value)
        if kind in (list, dict, set, bytearray) or kind.__name__ in ("ndarray", "DataFrame",
                                                                       "Series"):  # fmt: skip
            with contextlib.suppress(BaseException):
                out[key] = (value, dumps_split(value, _handle))
    return out


_OPS = {
    "call": lambda obj, args, kwargs: obj(*args, **kwargs),
    "getattr": getattr,
    "getitem": lambda obj, key: obj[key],
    "len": len,
    "bool": bool,
    "repr": lambda obj: repr(obj)[:100_000],
    "str": lambda obj: str(obj)[:100_000],
    "next": next,
    "enter": lambda obj: obj.__enter__(),
    "exit": lambda obj: obj.__exit__(None, None, None),
    "pyplot": lambda obj, name: getattr(sys.modules["matplotlib.pyplot"], name)(),
}


def _iterate(obj):
    """A builtin container's items (finite), else its iterator, stepped one ``next`` at a
    time (a generator or an object of the solution may never end)."""
    it = iter(obj)
    return list(it) if type(obj) in (list, tuple, dict, set, frozenset) else it


def _answer(message):
    """Apply one request of the harness's and send the reply."""
    kind = message[0]
    if kind == "fork":
        return _fork()
    if kind == "end":
        _flush()
        os._exit(_CLEAN_END)
    _, op, hid, args, state = message
    watched = _mutable(*args) if op == "call" else None
    entered = _enter(state) if state is not None else None
    try:
        value = _iterate(_HANDLES[hid]) if op == "iter" else _OPS[op](_HANDLES[hid], *args)
        reply = ["ok", value]
    except StopIteration:
        reply = ["stop", None]
    except BaseException as exc:
        reply = ["raise", _described(exc)]
    after = _leave(entered, watched) if entered is not None else {}  # patches undone first
    if reply[0] == "ok":
        reply[1] = _encode(reply[1])
    _flush()
    _send_reply((*reply, after))
    return None


def _described(exc):
    names = [f"{c.__module__}:{c.__qualname__}" for c in type(exc).__mro__]
    try:
        text = str(exc)[:4000]
    except BaseException:
        text = "<unprintable exception>"
    return names, text


def _flush():
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _fork():
    """Serve the next test from a fresh child; this process waits for it to end, and ends
    itself (with the child's status) if the child ended any other way."""
    _flush()
    pid = os.fork()
    if pid == 0:
        _send_reply(("forked",))
        return
    _, status = os.waitpid(pid, 0)
    _CHANNEL["release"]()
    if os.waitstatus_to_exitcode(status) != _CLEAN_END:
        print("[sandbox] the code's process for a test ended during the test", file=sys.stderr)
        _flush()
        os._exit(1)


def serve(root, requests, replies, release, work=None):
    """Answer the harness until it closes the channel, then exit 0; ``release`` gives a
    test's fork back to the process budget once the test has ended."""
    _CHANNEL.update(requests=requests, replies=replies, release=release, share=work)
    _HANDLES.append(root)
    _send_reply(("ready",))
    while True:
        _answer(_receive())
