"""What a call carries besides its arguments, on the harness's side; never imported:
prepended (after ``_wire.py``, before ``_remote.py``) to ``_harness_child.py``.

:func:`_state` is what the code must see during a call as if it ran in the harness (the
generators' states, the environment, the cwd, logging levels, the ``unittest.mock``
patches in force); :func:`_settle` applies, after checking them, what comes back (printed
text, log records, warnings, the generators' states, arguments mutated in place).
"""
# ruff: noqa: F821

import logging
import random
import sys
import types
import warnings

_STREAMS = {"stdout", "stderr", "stdin", "modules", "path", "meta_path", "path_hooks"}
_LOG_FIELDS = {"name", "levelno", "levelname", "msg", "pathname", "lineno", "funcName"}
_LOG_FIELDS.add("exc_text")
_ACTIVE = []  # the unittest.mock patchers in force, in the order they were entered


def _track_patches():
    """Record every ``patch`` / ``patch.object`` / ``patch.multiple`` entered and left
    (as a decorator, a context manager or through ``start``/``stop``), once the tests have
    imported ``unittest.mock``."""
    mock = sys.modules.get("unittest.mock")
    if mock is None:
        return
    for cls in (mock.NonCallableMock, mock.AsyncMock):
        _MOCK_API.update(n for n in dir(cls) if not n.startswith("__"))
    enter, leave = mock._patch.__enter__, mock._patch.__exit__

    def entered(self):
        value = enter(self)
        _ACTIVE.append(self)
        return value

    def left(self, *exc):
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        return leave(self, *exc)

    mock._patch.__enter__, mock._patch.__exit__ = entered, left


def _state():
    """What the code must see during a call: as if it ran in this process."""
    state = {"random": random.getstate(), "env": dict(os.environ), "patches": _patches()}
    try:
        state["cwd"] = os.getcwd()
    except OSError:
        state["cwd"] = None
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        state["numpy"] = numpy.random.get_state()
    loggers = logging.root.manager.loggerDict.items()
    levels = {n: lg.level for n, lg in loggers if isinstance(lg, logging.Logger) and lg.level}
    state["levels"] = levels | {"": logging.root.level}
    state["disable"] = logging.root.manager.disable
    return state


def _patches():
    """(module or (module, class), attribute, replacement) for the patches in force."""
    out = []
    for patcher in _ACTIVE:
        target, name = getattr(patcher, "target", None), patcher.attribute
        if isinstance(target, types.ModuleType):
            where = target.__name__
            if where == "sys" and name in _STREAMS:
                continue  # printed text is delivered to the test's streams instead
        elif isinstance(target, type):
            where = (target.__module__, target.__qualname__)
        else:
            continue  # an object of the tests': the code cannot reach it anyway
        out.append((where, name, getattr(target, name, None)))
    return out


def _settle(after, args, decode):
    """Apply what the code's process sent back after a request, checking each part."""
    for key, stream in (("out", sys.stdout), ("err", sys.stderr)):
        text = after.get(key)
        if type(text) is str and text and stream is not getattr(sys, f"__{key[:3]}__", None):
            stream.write(text)
    for record in after.get("logs", ())[:10_000]:
        _emit(record)
    for names, message, filename, lineno in after.get("warnings", ())[:1000]:
        category = _class(names, Warning)
        if category is not None and type(message) is str and type(lineno) is int:
            warnings.warn_explicit(message, category, str(filename), lineno)
    if "random" in after:
        _set_random(after["random"])
    if "numpy" in after and "numpy" in sys.modules:
        _set_numpy(sys.modules["numpy"], after["numpy"])
    for index, data in after.get("args", ()):
        try:
            if type(index) is int and 0 <= index < len(args[0]):
                _copy_into(args[0][index], decode(data))
            elif type(index) is str and index in args[1]:
                _copy_into(args[1][index], decode(data))
        except pickle.UnpicklingError:
            continue  # not plain data: the test's object keeps its value


def _emit(record):
    if type(record) is not dict:
        return
    name, level, message = record.get("name"), record.get("levelno"), record.get("msg")
    if not (type(name) is str and type(level) is int and type(message) is str):
        return
    logger = logging.getLogger(name) if name != "root" else logging.root
    if logger.isEnabledFor(level):
        fields = {k: v for k, v in record.items() if k in _LOG_FIELDS and type(v) in (str, int)}
        logger.handle(logging.makeLogRecord(fields | {"args": None, "exc_info": None}))


def _set_random(state):
    ok = type(state) is tuple and len(state) == 3 and state[0] == 3 and type(state[1]) is tuple
    ok = ok and len(state[1]) == 625 and all(type(x) is int for x in state[1])
    if not (ok and (state[2] is None or type(state[2]) is float)):
        raise RuntimeError("sandbox: the code sent back an invalid random state")
    random.setstate(state)


def _set_numpy(numpy, state):
    ok = type(state) is tuple and len(state) == 5 and state[0] == "MT19937"
    ok = ok and type(state[1]) is numpy.ndarray and state[1].shape == (624,)
    ok = ok and state[1].dtype == numpy.uint32 and type(state[2]) is int and 0 <= state[2] <= 624
    if not (ok and type(state[3]) is int and type(state[4]) is float):
        raise RuntimeError("sandbox: the code sent back an invalid numpy random state")
    numpy.random.set_state(state)


def _copy_into(old, new):
    """Carry an argument's mutation back into the test's own object, in place."""
    kind = type(old)
    if kind is not type(new):
        return
    if kind is list or kind is bytearray:
        if old != new:
            old[:] = new
    elif kind is dict or kind is set:
        if old != new:
            old.clear()
            old.update(new)
    elif kind.__module__.startswith("numpy") and kind.__name__ == "ndarray":
        if old.shape == new.shape and old.dtype == new.dtype and old.flags.writeable:
            old[...] = new
    elif kind.__module__.startswith("pandas") and kind.__name__ in ("DataFrame", "Series"):
        columns = [list(getattr(x, "columns", ())) for x in (old, new)]
        if not old.equals(new) or columns[0] != columns[1]:
            old.__setstate__(new.__getstate__())


def _follow_pyplot(channel):
    """``pyplot.gca()`` / ``gcf()`` in the tests answer the code's current Axes / Figure
    while the tests have no figure of their own (a solution that draws and returns None)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return

    def follow(name, own):
        def current(*args, **kwargs):
            if args or kwargs or pyplot.get_fignums():
                return own(*args, **kwargs)
            try:
                return channel.apply("pyplot", 0, name)
            except KeyError:  # the code has not imported pyplot
                return own()

        return current

    pyplot.gca, pyplot.gcf = follow("gca", pyplot.gca), follow("gcf", pyplot.gcf)
