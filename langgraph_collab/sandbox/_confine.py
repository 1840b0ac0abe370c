"""How the sandbox confines a child process: namespaces, a fresh uid, a private mount view.

As root a child gets a new network namespace, a fresh unused uid (and gid) with
NO_NEW_PRIVS, and a private mount namespace in which ``/tmp``, ``/var/tmp``, ``/dev/shm`` and
every directory other users cannot traverse on the way to the interpreter (``/root`` for a
pyenv build) are covered by an empty root-owned tmpfs; only the interpreter's own
directories and the run's work folder are bound back in. It keeps no capability at all. If
that cannot be arranged while the interpreter is unreachable to other uids, :func:`probe`
fails closed with the reason. A normal user gets a user+network namespace where allowed.

Example:
    >>> caps = probe()
    >>> caps.error or caps.drop or os.geteuid() != 0
    True
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

NEWNS, NEWNET, NEWUSER = 0x00020000, 0x40000000, 0x10000000
_MS_BIND, _MS_MOVE, _MS_REC, _MS_PRIVATE = 0x1000, 0x2000, 0x4000, 0x40000
_MS_NOSUID, _MS_NODEV = 0x2, 0x4
COVERED = ("/tmp", "/var/tmp", "/dev/shm")
try:
    _LIBC: Any = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - then every probe fails and only rlimits apply
    _LIBC = None


@dataclass(frozen=True)
class Caps:
    """What confinement works here: namespace ``flags``, a dedicated uid (``drop``), or
    ``error``: why code must not run at all (root that cannot shed its privileges)."""

    flags: int = 0
    drop: bool = False
    error: str = ""


def procs() -> list[tuple[int, int, int, str, int]]:
    """(pid, real uid, session id, state, threads) of every visible process."""
    rows = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, LookupError, ValueError):
            with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
                kv = {k: v.split()[0] for k, _, v in (ln.partition(":") for ln in f) if v.split()}
            sid, n = int(kv["NSsid"]), int(kv["Threads"])
            rows.append((int(pid), int(kv["Uid"]), sid, kv["State"], n))
    return rows


def pick_uids(n: int) -> list[int] | None:
    """``n`` distinct random ids in [2**30, 2**31) with no passwd entry or process."""
    used, rng, found = {row[1] for row in procs()}, random.SystemRandom(), []
    for uid in (rng.randrange(1 << 30, 1 << 31) for _ in range(16 * n)):
        with contextlib.suppress(KeyError):
            pwd.getpwuid(uid)
            continue
        if uid not in used and uid not in found:
            found.append(uid)
        if len(found) == n:
            return found
    return None


def _interpreter_dirs() -> list[str]:
    """The directories a child interpreter reads: prefixes, the binary's, ``sys.path``."""
    dirs = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    dirs += [os.path.dirname(os.path.realpath(sys.executable)), *sys.path]
    return sorted({os.path.realpath(d) for d in dirs if d and os.path.isdir(d)})


def _untraversable(path: str) -> str | None:
    """The topmost strict ancestor of ``path`` that other users cannot enter."""
    parts = path.split(os.sep)
    for i in range(2, len(parts)):
        ancestor = os.sep.join(parts[:i])
        if not os.stat(ancestor).st_mode & 0o001:
            return ancestor
    return None


def mount_plan(keep: list[str]) -> dict[str, list[str]]:
    """Covered directory -> the paths under it bound back in, for ``keep`` (the work
    folder) and the interpreter's directories.

    Example:
        >>> import tempfile
        >>> "/tmp" in mount_plan([tempfile.mkdtemp(dir="/tmp")])
        True
    """
    paths = [*keep, *_interpreter_dirs()]
    tops = {d for d in COVERED if os.path.isdir(d) and not os.path.islink(d)}
    tops |= {b for p in paths if (b := _untraversable(p))}
    plan: dict[str, list[str]] = {t: [] for t in tops if not any(_under(t, u) for u in tops)}
    for path in paths:
        for top in plan:
            if _under(path, top) and not any(_under(path, k) for k in plan[top]):
                plan[top] = [k for k in plan[top] if not _under(k, path)] + [path]
    return plan


def _under(path: str, top: str) -> bool:
    return path != top and (path + os.sep).startswith(top + os.sep)


def _mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None) -> None:
    args = [None if a is None else a.encode() for a in (src, dst, fstype)]
    if _LIBC.mount(*args, flags, None if data is None else data.encode()) != 0:
        raise OSError(ctypes.get_errno(), f"mount {dst} failed")


HIDDEN: set[str] = {os.path.dirname(os.path.dirname(os.path.realpath(__file__)))}
"""Paths no sandboxed child may see even where its mount view binds their folder back: this
package (its bundled task data holds hidden tests and references) and the task files
:func:`hide` was given."""
_MS_RDONLY = 0x1


def hide(path: str) -> None:
    """Keep ``path`` (a task file or folder holding hidden tests) out of every later
    sandboxed child's view, wherever it is and whatever its permissions."""
    HIDDEN.add(os.path.realpath(path))


def _hide() -> None:
    for path in sorted(HIDDEN):
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_RDONLY, "mode=0755,size=4k")
        elif os.path.exists(path):
            _mount(os.devnull, path, None, _MS_BIND, None)


def _apply_plan(plan: dict[str, list[str]], stage: str) -> None:
    """Cover each directory of ``plan`` with a fresh tmpfs holding only its kept paths,
    built under ``stage`` and moved into place (the stage's own cover moves last); then
    cover the :data:`HIDDEN` paths still in view."""
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)
    os.mkdir(stage, 0o700)
    tops = sorted(plan, key=lambda top: _under(stage, top))
    for i, top in enumerate(tops):
        root = os.path.join(stage, str(i))
        os.mkdir(root, 0o700)
        _mount("tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=1m")
        for path in plan[top]:
            target = root + path[len(top) :]
            os.makedirs(target, 0o755, exist_ok=True)
            _mount(path, target, None, _MS_BIND | _MS_REC, None)
    for i, top in enumerate(tops):
        _mount(os.path.join(stage, str(i)), top, None, _MS_MOVE, None)
    _hide()


def preexec(flags: int, limits: list[tuple[int, int, int]], ids: tuple[int, list[int]] | None,
            plan: dict[str, list[str]] | None, stage: str, umask: int = 0o022) -> None:  # fmt: skip
    """In the forked child before exec: rlimits, namespaces, the mount plan, then the uid
    ``ids[0]`` with supplementary groups ``ids[1]`` and NO_NEW_PRIVS (no capability kept)."""
    os.umask(umask)
    for res, soft, hard in limits:
        resource.setrlimit(res, (soft, hard))
    if flags and _LIBC.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "unshare failed")
    if plan is not None:
        _apply_plan(plan, stage)
    if ids is not None:
        uid, groups = ids
        _set_ids(groups, uid)


# The numbers of setgroups, setgid and setuid on this machine (None where unknown: glibc's
# wrappers then). The forked child has one thread, so the kernel's per-thread credentials
# are the process's: the raw calls skip glibc's broadcast to the parent's threads (glibc's
# wrappers crash on CPython 3.10 after a fork from a process whose threads have come and
# gone).
_ID_CALLS = {"x86_64": (116, 106, 105), "aarch64": (159, 144, 146)}.get(os.uname().machine)


def _set_ids(groups: list[int], uid: int) -> None:
    calls = _ID_CALLS
    if calls is None:
        os.setgroups(groups)
        os.setgid(uid)
    else:
        array = (ctypes.c_uint * max(len(groups), 1))(*groups)
        if _LIBC.syscall(calls[0], len(groups), array) or _LIBC.syscall(calls[1], uid):
            raise OSError(ctypes.get_errno(), "setgroups/setgid failed")
    if _LIBC.prctl(38, 1, 0, 0, 0):
        raise OSError(ctypes.get_errno(), "prctl(NO_NEW_PRIVS) failed")
    if calls is None:
        os.setuid(uid)
    elif _LIBC.syscall(calls[2], uid):
        raise OSError(ctypes.get_errno(), "setuid failed")


def child_env(work: str) -> dict[str, str]:
    """A scrubbed environment whose HOME and TMPDIR are in ``work``."""
    path = os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"])
    env = dict(PATH=path, LANG="C.UTF-8", HOME=work, TMPDIR=os.path.join(work, "tmp"))
    env.update(USER="sandbox", LOGNAME="sandbox", PYTHONHASHSEED="0", MPLBACKEND="Agg")
    env.update(PYTHONDONTWRITEBYTECODE="1", MALLOC_ARENA_MAX="2", OMP_NUM_THREADS="1")
    return env | dict(OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")


def make_workdir(owner: int | None, group: int | None = None) -> tuple[str, str]:
    """(run folder, work folder): the run folder is root's and enterable by others but not
    listable; the work folder inside it (a random name) is ``owner``'s, or, as root, shared
    by the members of ``group`` (setgid, so what they create there is the group's)."""
    base = os.path.realpath(tempfile.mkdtemp(prefix="sandbox-"))
    work = os.path.join(base, os.urandom(8).hex())
    os.mkdir(work, 0o700)
    os.mkdir(os.path.join(work, "tmp"), 0o700)
    if os.geteuid() == 0:
        os.chmod(base, 0o711)
        for d in (work, os.path.join(work, "tmp")):
            if owner is not None:
                os.chown(d, owner, owner)
            elif group is not None:
                os.chown(d, 0, group)
                os.chmod(d, 0o2770)
            else:
                os.chmod(d, 0o1777)
    return base, work


def probe_run(caps: Caps) -> bool:
    """Whether python starts under ``caps`` (one child, as the sandbox would start it)."""
    ids = pick_uids(1) if caps.drop else None
    if caps.drop and ids is None:
        return False
    base, work = make_workdir(ids[0] if ids else None)
    try:
        plan = mount_plan([work]) if caps.flags & NEWNS else None
        argv = [sys.executable, "-I", "-c", "import json, unittest; print('ok')"]
        who = (ids[0], []) if ids else None
        fn = lambda: preexec(caps.flags, [], who, plan, os.path.join(base, "stage"))  # noqa: E731
        r = subprocess.run(argv, cwd=work, env=child_env(work), capture_output=True, preexec_fn=fn)
        return r.stdout == b"ok\n"
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        rmtree(base)


def probe() -> Caps:
    """The strongest confinement that works here; as root, never one that stays root."""
    if os.geteuid() != 0:
        tries = [Caps(NEWUSER | NEWNET), Caps(0)]
        return next((c for c in tries if probe_run(c)), Caps(0))
    tries = [Caps(NEWNS | NEWNET, True), Caps(NEWNS, True)]
    blocked = sorted({b for d in _interpreter_dirs() if (b := _untraversable(d))})
    if not blocked:
        tries += [Caps(NEWNET, True), Caps(0, True)]
    if found := next((c for c in tries if probe_run(c)), None):
        return found
    where = f"behind {', '.join(blocked)}" if blocked else "reachable"
    return Caps(error=(
        f"cannot run untrusted code as root: no unprivileged uid can start {sys.executable} "
        f"(it is {where}, and a private mount namespace could not expose it). Install Python "
        "where other users can read it, or allow unshare(CLONE_NEWNS)."
    ))  # fmt: skip


def kill_all(sid: int, uids: list[int], spare: int = 0) -> None:
    """SIGKILL the session ``sid`` and every process of ``uids``; ``spare`` (a child that
    reaps its own descendants) is left alive."""
    if not spare:
        with contextlib.suppress(OSError):
            os.killpg(sid, signal.SIGKILL)
    for _ in range(200):
        rows = [r for r in procs() if r[0] not in (os.getpid(), spare) and r[3] not in "ZX"]
        victims = [r[0] for r in rows if r[2] == sid or r[1] in uids]
        if not victims:
            return
        for pid in victims:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def rmtree(path: str) -> None:
    """Remove ``path`` even where a sandboxed owner made directories unreadable."""
    for root, dirs, _ in os.walk(path):
        for d in (os.path.join(root, d) for d in dirs):
            if not os.path.islink(d):
                with contextlib.suppress(OSError):
                    os.chmod(d, 0o700)
    shutil.rmtree(path, ignore_errors=True)
