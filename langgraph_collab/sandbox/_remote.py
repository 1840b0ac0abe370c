"""The harness's side of a call into the code's process, never imported: prepended (after
``_wire.py``) to ``_harness_child.py``.

A name the tests take from the solution is a :class:`Remote`. Every operation on it is one
request; a call or a ``next`` carries the state the code should see (the generators'
states, the environment, the current directory, logging levels, the patches in force) and
its reply brings back what the test should see (the generators' states, checked; printed
text; log records; arguments mutated in place). While a request is open the code may call
back into this process through the handles it was given (mocks, functions and objects the
tests passed, the patches' replacements): :meth:`Channel.serve_callback` runs them here, so
a ``MagicMock`` records the call itself. Membership and comparisons never leave: ``in``
iterates the object here, ``==`` is identity.
"""
# ruff: noqa: F821

import operator
import sys
import types

_REFUSED = {"StopIteration", "StopAsyncIteration"}  # would end the caller's iteration
_MOCK_API = {"call_count", "called", "call_args", "call_args_list", "mock_calls"}
_MOCK_API |= {"method_calls", "side_effect", "return_value"}
_METHODS = {
    "__enter__": lambda o: o.__enter__(),
    "__exit__": lambda o, *a: o.__exit__(*a),
    "__next__": next,
    "__len__": len,
    "__bool__": bool,
    "__str__": str,
    "__repr__": repr,
    "__int__": int,
    "__float__": float,
    "__index__": operator.index,
    "__getitem__": operator.getitem,
    "__contains__": operator.contains,
}
_TYPES_BY_NAME = {t.__name__: t for t in vars(types).values() if isinstance(t, type)}


class Gone(RuntimeError):
    """The code's process stopped answering."""


class Channel:
    """Requests to the code's process; callbacks from it while a request is open."""

    def __init__(self, requests, replies, work=None, solution_module="__solution__"):
        self.requests, self.replies, self.gen, self.far = requests, replies, 0, []
        self.work = work  # the working area shared with the code's uid, as root
        self.skip_modules = {solution_module, "__main__", "__test__"}

    # -- framing ----------------------------------------------------------------------
    def _send(self, message):
        try:
            payload = dumps_split(message, self._far_id)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise TypeError(f"sandbox: this value cannot be passed to the code: {exc}") from None
        try:
            send(self.requests, payload)
        except OSError as exc:
            raise Gone(f"sandbox: the code's process has ended ({exc})") from None

    def _far_id(self, obj):
        if type(obj) is Remote:
            if object.__getattribute__(obj, "_gen") not in (0, self.gen):
                raise Gone("sandbox: an object of an earlier test's process")
            return ("c", object.__getattribute__(obj, "_hid"))
        self.far.append(obj)
        return ("h", len(self.far) - 1)

    def receive(self):
        try:
            frame = recv(self.replies)
        except (OSError, ValueError) as exc:
            raise Gone(f"sandbox: broken channel to the code ({exc})") from None
        if frame is None:
            raise Gone("sandbox: the code's process has ended")
        return loads_plain(frame, self._persistent)

    def _persistent(self, pid):
        if type(pid) is tuple and len(pid) == 4 and pid[0] == "c" and type(pid[1]) is int:
            return Remote(self, pid[1], _resolve(pid[2], pid[3], self.skip_modules))
        if type(pid) is tuple and len(pid) == 2 and pid[0] == "h" and type(pid[1]) is int:
            return self.far[pid[1]] if 0 <= pid[1] < len(self.far) else None
        raise pickle.UnpicklingError("unexpected handle")

    # -- requests -----------------------------------------------------------------------
    def apply(self, op, hid, *args, state=False):
        if state and self.work:
            share(self.work)
        self._send(("op", op, hid, args, _state() if state else None))
        while True:
            reply = self.receive()
            if type(reply) is tuple and len(reply) == 3 and reply[0] == "callback":
                self.serve_callback(reply)
                continue
            break
        if type(reply) is not tuple or len(reply) != 3 or type(reply[2]) is not dict:
            raise Gone("sandbox: a malformed reply from the code")
        kind, value, after = reply
        _settle(after, args if op == "call" else (), self.decode)
        if kind == "raise":
            raise _exception(*value)
        if kind == "stop":
            raise StopIteration
        return self.decode(*value)

    def decode(self, data, whole=None):
        """Plain data from the code's pickle, handles inside; the whole value behind one
        handle when it is not plain data (``whole``), else ``None``."""
        try:
            return loads_plain(data, self._persistent) if type(data) is bytes else None
        except pickle.UnpicklingError:
            if whole is None:
                raise
            return self._persistent(whole)

    def serve_callback(self, request):
        """Run a callback of the code's on one of this process's objects; answer it."""
        try:
            _, (cid, op, name), data = request
            args, kwargs = self.decode(data)
            target = self.far[cid]
            if op == "getattr":
                mock = sys.modules.get("unittest.mock")
                if str(name).startswith("_") or (mock and isinstance(target, mock.NonCallableMock)
                                                 and name in _MOCK_API):  # fmt: skip
                    raise AttributeError(f"sandbox: {name!r} is not reachable from the code")
                value = getattr(target, name)
            elif op == "call":
                value = target(*args, **kwargs)
            elif op == "iter":
                value = iter(target)
            else:
                value = _METHODS[name](target, *args)
            answer = ("answer", "ok", value)
        except StopIteration:
            answer = ("answer", "stop", None)
        except Exception as exc:
            answer = ("answer", "raise", [f"{c.__module__}:{c.__qualname__}" for c in
                                          type(exc).__mro__], str(exc)[:4000])  # fmt: skip
        try:
            self._send(answer)
        except TypeError:
            self._send(("answer", "raise", ["builtins:TypeError"], "unpicklable answer"))

    def fork(self):
        """A fresh code process for the next test (a fork of the one that loaded the code)."""
        self.gen += 1
        self._send(("fork",))
        if self.receive() != ("forked",):
            raise Gone("sandbox: the code's process did not fork")

    def end(self):
        if self.gen > 0:
            self._send(("end",))


def _resolve(module, qualname, skip):
    """The class ``module:qualname`` as this process knows it, if the tests' modules hold
    it (never a class of the solution's module): what a proxy answers for ``__class__``."""
    if not (type(module) is str and type(qualname) is str) or module in skip:
        return None
    if module.split(".")[0] == "unittest":
        return None  # no proxy passes for the runner's or a mock's own classes
    if module == "builtins":
        obj = _TYPES_BY_NAME.get(qualname) or getattr(sys.modules["builtins"], qualname, None)
    else:
        obj = sys.modules.get(module)
        for part in qualname.split("."):
            obj = getattr(obj, part, None) if part != "<locals>" else None
    if not isinstance(obj, type) or issubclass(obj, type) or obj.__module__ in skip:
        return None  # a class stays a proxy: only instances answer for a known class
    if obj in _PLAIN or _root(obj) in _DATA_ROOTS:
        return None  # data crosses as data: a proxy claiming a data type is a forgery
    return obj


class Remote:
    """An object that lives in the code's process. Equality and hashing stay identity;
    membership iterates it here; ``__class__`` answers the class the tests know by that
    name (so ``isinstance`` works), else ``Remote``."""

    __slots__ = ("_channel", "_cls", "_gen", "_hid")

    def __init__(self, channel, hid, cls):
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_hid", hid)
        object.__setattr__(self, "_cls", cls)
        object.__setattr__(self, "_gen", channel.gen)

    def _ask(self, op, *args, want=None, state=False):
        channel = object.__getattribute__(self, "_channel")
        if object.__getattribute__(self, "_gen") not in (0, channel.gen):
            raise RuntimeError("sandbox: an object of an earlier test's process")
        value = channel.apply(op, object.__getattribute__(self, "_hid"), *args, state=state)
        if want is not None and type(value) is not want:
            raise TypeError(f"sandbox: {op}() of the code's object gave {type(value).__name__}")
        return value

    @property
    def __class__(self):
        return object.__getattribute__(self, "_cls") or Remote

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", name)

    def __setattr__(self, name, value):
        raise TypeError("sandbox: objects of the code's process are read-only here")

    def __call__(self, *args, **kwargs):
        return self._ask("call", args, kwargs, state=True)

    def __getitem__(self, key):
        return self._ask("getitem", key)

    def __len__(self):
        return self._ask("len", want=int)

    def __bool__(self):
        return self._ask("bool", want=bool)

    def __contains__(self, item):
        return any(x is item or x == item for x in self)

    def __iter__(self):
        items = self._ask("iter")
        return iter(items) if type(items) is list else items

    def __next__(self):
        return self._ask("next", state=True)

    def __repr__(self):
        return self._ask("repr", want=str)

    def __str__(self):
        return self._ask("str", want=str)

    def __enter__(self):
        return self._ask("enter")

    def __exit__(self, *exc):
        return bool(self._ask("exit"))


def _class(names, base):
    """The first class of ``names`` (an MRO, ``module:qualname``) that is a builtin or one
    of a module the tests imported and derives from ``base``; never unittest's own, never
    one that ends an iteration."""
    for qualified in names if type(names) is list else []:
        module, _, name = str(qualified).partition(":")
        if module.split(".")[0] == "unittest" or name.startswith("_") or name in _REFUSED:
            continue
        cls = getattr(sys.modules.get(module), name, None) if "." not in name else None
        if isinstance(cls, type) and issubclass(cls, base):
            return cls
    return None


def _exception(names, message):
    """A trusted exception standing for the code's: the first class of its MRO that
    :func:`_class` admits as an ``Exception`` or ``SystemExit``, built here with the code's
    message."""
    names = names if type(names) is list else []
    for name in names:
        cls = _class([name], Exception) or _class([name], SystemExit)
        if cls is None:
            continue
        try:
            return cls(str(message))
        except TypeError:
            continue
    return RuntimeError(f"{names[0] if names else 'exception'}: {message}")
