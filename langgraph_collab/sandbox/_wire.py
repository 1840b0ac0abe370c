"""Plain data across the sandbox boundary: message framing and the restricted unpickler.

Its source is prepended to both sandbox child programs (the harness that runs the hidden
tests and the process that runs the model's code); the library imports it only to test it.
Only plain data can come out of :func:`loads_plain`: builtin containers and scalars, and the
stdlib / numpy / pandas types whose pickles reference nothing but a fixed set of globals,
found by pickling samples of those types (:func:`allowed_globals`). A class the model wrote,
or any callable outside that set, is refused, so no ``__eq__`` of the model's can arrive.

Example:
    >>> loads_plain(dumps({"a": (1, 2.5, None), "b": {3}}))
    {'a': (1, 2.5, None), 'b': {3}}
"""

import io
import os
import pickle
import struct

MAX_FRAME = 1 << 26  # 64 MiB: a bigger message is a protocol error
_BUILTIN_TYPES = frozenset(
    [
        "set",
        "frozenset",
        "complex",
        "bytearray",
        "slice",
        "range",
        "int",
        "float",
        "str",
        "bytes",
        "bool",
        "list",
        "tuple",
        "dict",
    ]
)
_ALLOWED = {}  # family -> frozenset of (module, name), built on first use
_FAMILIES = {"numpy": "numpy", "pandas": "pandas", "pyarrow": "pandas"}


def dumps(value, persistent_id=None):
    """``value`` pickled (protocol 5); ``persistent_id`` maps objects to handle ids."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=5)
    if persistent_id is not None:
        pickler.persistent_id = persistent_id
    pickler.dump(value)
    return buf.getvalue()


_DATA_ROOTS = frozenset(
    ["numpy", "pandas", "datetime", "decimal", "fractions", "collections", "zoneinfo", "pyarrow"]
)
_PLAIN = (type(None), bool, int, float, complex, str, bytes, bytearray, list, tuple, dict, set)
_PLAIN += (frozenset, range, slice, type(Ellipsis), pickle.PickleBuffer)


def _root(obj):
    return str(getattr(obj, "__module__", None) or "").split(".")[0]


def dumps_split(value, handle):
    """``value`` pickled, every object that does not look like plain data (a class the
    model or the tests wrote, a function, a mock, an open file) replaced by the persistent
    id ``handle(obj)``: containers mixing data and objects cross as data with handles
    inside. The receiver still decides what it admits (:func:`loads_plain`)."""

    def persistent_id(obj):
        kind = type(obj)
        if kind in _PLAIN or _root(kind) in _DATA_ROOTS:
            return None  # builtin data, or an instance of a numpy / pandas / stdlib data type
        if isinstance(obj, type) and obj in _PLAIN:
            return None
        if isinstance(getattr(obj, "__qualname__", None), str) and _root(obj) in _DATA_ROOTS:
            return None  # a class or function of those libraries, pickled by reference
        return handle(obj)

    return dumps(value, persistent_id)


def _samples(family):
    """Representative values of one family, pickled to learn which globals it needs."""
    if family == "numpy":
        import numpy as np

        arrays = [np.arange(3), np.zeros((2, 2), np.float32), np.array([True]), np.array(["a"])]
        arrays += [np.array([1, "a"], dtype=object), np.array([1j])]
        arrays += [np.array(["2020-01-01"], "datetime64[D]"), np.array([1], "timedelta64[s]")]
        return arrays + [a[0] for a in arrays] + [a.dtype for a in arrays] + [np.int32(1)]
    if family == "pandas":
        import pandas as pd

        frame = pd.DataFrame(
            {"i": [1, 2], "f": [1.5, None], "s": ["a", "b"], "b": [True, False]}
            | {"t": pd.to_datetime(["2020-01-01", "2020-01-02"]), "c": pd.Categorical(["x", "y"])}
            | {"n": pd.array([1, None], dtype="Int64"), "d": pd.to_timedelta([1, 2], "s")}
        )
        index = pd.MultiIndex.from_tuples([(1, "a"), (2, "b")], names=["k", "v"])
        extra = [pd.Series([1.0], name="x"), pd.Index(["a"]), pd.Timestamp("2020"), pd.NaT]
        extra += [pd.Timedelta(1), pd.Period("2020"), pd.date_range("2020", periods=2)]
        extra += [pd.Series([1, 2], index=index), pd.Interval(0, 1), pd.NA]
        return [frame, frame.set_index("s"), frame.describe(), *extra]
    import collections
    import datetime
    import decimal
    import fractions

    moment = datetime.datetime(2020, 1, 2, 3, tzinfo=datetime.timezone.utc)
    values = [set(), frozenset({1}), 1j, bytearray(b"x"), range(3), slice(1, 2), moment]
    values += [moment.date(), moment.time(), datetime.timedelta(1), decimal.Decimal("1.5")]
    values += [fractions.Fraction(1, 3), collections.OrderedDict(a=1), collections.Counter("a")]
    return [*values, collections.defaultdict(list), collections.deque([1]), datetime.timezone.utc]


def allowed_globals(family):
    """The (module, name) globals that pickles of ``family`` ("stdlib", "numpy", "pandas")
    may reference; builtins are kept to data types only, never functions like getattr."""
    if family not in _ALLOWED:
        seen = set()

        class Recorder(pickle.Unpickler):
            def find_class(self, module, name):
                seen.add((module, name))
                return super().find_class(module, name)

        for sample in _samples(family):
            Recorder(io.BytesIO(dumps(sample))).load()
        _ALLOWED[family] = frozenset(
            (m, n) for m, n in seen if m != "builtins" or n in _BUILTIN_TYPES
        )
    return _ALLOWED[family]


class PlainUnpickler(pickle.Unpickler):
    """Admits only :func:`allowed_globals`; handles (persistent ids) go to ``persistent``."""

    def __init__(self, data, persistent=None):
        super().__init__(io.BytesIO(data))
        self._persistent = persistent

    def find_class(self, module, name):
        key, family = (module, name), _FAMILIES.get(module.split(".")[0], "stdlib")
        try:
            allowed = key in allowed_globals(family) or key in allowed_globals("stdlib")
        except ImportError:
            allowed = False
        allowed = allowed or any(key in known for known in _ALLOWED.values())
        if not allowed:
            raise pickle.UnpicklingError(f"{module}.{name} is not plain data")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        if self._persistent is None:
            raise pickle.UnpicklingError("unexpected handle")
        return self._persistent(pid)


def loads_plain(data, persistent=None):
    """Plain data from ``data``; raises ``pickle.UnpicklingError`` for anything else."""
    return PlainUnpickler(data, persistent).load()


def share(work):
    """Open what this process made under ``work`` to the other process's group (as root the
    tests and the code run as two uids of one group): ``mkdtemp`` and ``mkstemp`` make
    owner-only folders and files, which the other side could not use."""
    me = os.geteuid()
    for root, dirs, files in os.walk(work):
        for name in dirs + files:
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
                want = 0o070 if name in dirs else 0o060
                if st.st_uid == me and st.st_mode & want != want and not os.path.islink(path):
                    os.chmod(path, st.st_mode & 0o7777 | want)
            except OSError:
                continue


def send(fd, payload):
    """Write one length-prefixed frame."""
    view = memoryview(struct.pack(">I", len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


def recv(fd):
    """Read one frame; None at end of stream; ``ValueError`` for a malformed frame."""
    head = _read_exact(fd, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">I", head)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes exceeds the limit")
    body = _read_exact(fd, size)
    if body is None:
        raise ValueError("stream ended inside a frame")
    return body


def _read_exact(fd, n):
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            if got:
                raise ValueError("stream ended inside a frame")
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
