"""Runs first in the sandbox's child interpreter (``python -I -c``), never imported.

It forks the program's process, so the program's parent is never the caller, reaps what the
program leaves behind, installs the audit hook, then runs the program ("run" mode) or loads
the solution and serves the harness's requests ("serve" mode): each request applies one
operation (call, attribute, item, len, iter, bool, repr, contains) to an object of the
solution and answers with its value, pickled, or an exception's class names and message.
The harness alone decides what the answer means. ``_wire.py``'s source is prepended
(``dumps``, ``send``, ``recv`` and ``io`` come from it).
"""
# ruff: noqa: F821

import json
import os
import signal
import sys
import types


def _main():
    cfg = json.loads(sys.stdin.readline())
    work, budget, run = cfg["work"], cfg["budget"], cfg["mode"] == "run"
    import ctypes

    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come back here
    pid, status = os.fork(), None
    while pid:  # reap everything; once the program has exited, kill what it left behind
        try:
            reaped, st = os.wait()
        except ChildProcessError:
            break
        status = st if reaped == pid else status
        try:
            with open(f"/proc/self/task/{os.getpid()}/children") as f:
                for child in f.read().split() if status is not None else []:
                    os.kill(int(child), signal.SIGKILL)
        except OSError:
            pass
    if pid:
        rc = os.waitstatus_to_exitcode(status)
        if rc < 0 and rc != -signal.SIGKILL:
            signal.signal(-rc, signal.SIG_DFL)
        if rc < 0:
            os.kill(os.getpid(), -rc)
        os._exit(rc & 255)
    import mmap

    shared, protect = mmap.mmap(-1, 8), {os.getppid(), cfg["parent"]}
    wbits = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    fs = {
        "os.remove": (0, 1),
        "os.rmdir": (0, 1),
        "os.mkdir": (0, 2),
        "os.chmod": (0, 2),
        "os.chown": (0, 3),
        "os.rename": (0, 2, 1, 3),
        "os.link": (1, 3),
        "os.symlink": (1, 2),
        "os.utime": (0, 3),
        "os.truncate": (0, 9),
        "shutil.rmtree": (0, 1),
    }  # path, dir_fd
    spawn = {"os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system", "subprocess.Popen"}
    dns = {
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyname_ex",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
    }
    watched = {"open", "os.kill", "os.killpg", "socket.__new__", *fs, *spawn, *dns}

    def inside(path, dir_fd):
        try:
            if isinstance(path, int):
                path = os.readlink(f"/proc/self/fd/{path}")
            path = os.fsdecode(path)
            if isinstance(dir_fd, int) and dir_fd >= 0:
                path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
            real = os.path.realpath(path)
        except Exception:
            return False
        return real == os.devnull or (real + os.sep).startswith(work + os.sep)

    def hook(ev, args):
        if ev not in watched:
            return
        if (
            ev == "open"
            and (
                (isinstance(args[1], str) and any(c in args[1] for c in "wax+"))
                or (isinstance(args[2], int) and args[2] & wbits)
            )
            and not isinstance(args[0], int)
            and not inside(args[0], None)
        ):
            raise PermissionError(f"sandbox: writing {args[0]!r} refused")
        idx = fs.get(ev, ())
        for i in range(0, len(idx), 2):
            if not inside(args[idx[i]], args[idx[i + 1]] if idx[i + 1] < len(args) else None):
                raise PermissionError(f"sandbox: {ev} outside the working directory refused")
        if ev == "os.killpg" or (ev == "os.kill" and (args[0] in protect or args[0] <= 0)):
            raise PermissionError(f"sandbox: {ev}{args} refused")
        if not cfg["network"] and (ev in dns or (ev == "socket.__new__" and args[1] != 1)):
            raise PermissionError(f"sandbox: network access refused ({ev})")
        if budget and ev in spawn:
            n = int.from_bytes(shared[:8], "little") + 1
            shared[:8] = n.to_bytes(8, "little")
            if n > budget:
                raise BlockingIOError(11, "sandbox: process limit reached")

    def load(name):
        with open(os.path.join(work, name), encoding="utf-8") as f:
            return compile(f.read(), os.path.join(work, name), "exec")

    sys.dont_write_bytecode = True
    sys.path.insert(0, work)
    sys.addaudithook(hook)
    mod = types.ModuleType("__main__" if run else "__solution__")
    sys.modules[mod.__name__] = mod
    mod.__file__ = sys.argv[0] = os.path.join(work, "_sbx_main.py" if run else "_sbx_solution.py")
    if run:
        return exec(load("_sbx_main.py"), mod.__dict__)
    import traceback

    try:
        exec(load("_sbx_solution.py"), mod.__dict__)
    except BaseException as exc:
        traceback.print_exc()
        how = "called sys.exit()" if isinstance(exc, SystemExit) else "raised"
        print(f"[sandbox] the solution {how} before any test ran", file=sys.stderr)
        sys.stderr.flush()
        os._exit(1)

    def release():  # a test's fork is the harness's doing, not the program's
        if budget:
            shared[:8] = (int.from_bytes(shared[:8], "little") - 1).to_bytes(8, "little")

    serve(mod, cfg["requests"], cfg["replies"], release, cfg.get("share"))


_main()
