"""``--workers N``: the collect stage as N shard processes on this machine, one progress bar.

Worker ``i`` is ``python -m langgraph_collab.train --config <run>/collect/workers.yaml
--stages collect --workers 1 --num-shards N --shard-index i``: the run's own configuration,
shard ``i`` of ``N`` (:mod:`~langgraph_collab.collection.sharding`), resumable on its own. Each
worker
reports its progress as JSON lines on a pipe whose descriptor it finds in
``LANGGRAPH_COLLAB_PROGRESS_FD`` (:func:`progress_option`); the parent waits on every pipe
and every worker's stderr at once (``selectors``: no polling) and feeds one tqdm bar. A worker
that fails stops the others and fails the stage with its first error line; Ctrl-C stops
them all. Every shard is resumable: the same command picks up where they stopped.

Example:
    >>> from langgraph_collab.train.config import load_config
    >>> summary = run_workers(load_config(["--workers", "2"]))  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from tqdm.auto import tqdm

from langgraph_collab.collection.sharding import SUMMARY, shard_dir
from langgraph_collab.collection.storage import prepare_out_dir
from langgraph_collab.train.config import CollabTrainConfig

PROGRESS_FD = "LANGGRAPH_COLLAB_PROGRESS_FD"
STOP_WAIT_S = 30.0
"""How long a worker told to stop (SIGINT) may take before it is killed."""


class WorkerError(RuntimeError):
    """A collect worker failed; the message names it and gives its first error line;
    ``exit_status`` is the worker's (2: configuration or credentials, as the CLI's)."""

    def __init__(self, message: str, *, exit_status: int | None = None) -> None:
        super().__init__(message)
        self.exit_status = exit_status


class PipeBar:
    """The worker's side: a tqdm-like bar that writes each change as a JSON line to
    ``file`` (``{"total", "done"}`` first, then ``{"done"}`` and ``{"postfix"}``).

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> bar = PipeBar(out, total=3, initial=1)
        >>> bar.update(1)
        >>> out.getvalue()
        '{"total": 3, "done": 1}\\n{"done": 1}\\n'
    """

    def __init__(self, file: IO[str], *, total: int, initial: int = 0, **_: Any) -> None:
        self.file = file
        self._send(total=total, done=initial)

    def _send(self, **message: Any) -> None:
        self.file.write(json.dumps(message) + "\n")
        self.file.flush()

    def update(self, n: int = 1) -> None:
        self._send(done=n)

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        self._send(postfix=values)

    def close(self) -> None:
        self.file.flush()


def progress_option() -> bool | Callable[..., PipeBar]:
    """``collect``'s ``progress`` in this process: a :class:`PipeBar` on the parent's pipe
    inside a worker (the variable is taken, so that nothing started later inherits it),
    else ``True`` (a tqdm bar)."""
    fd = os.environ.pop(PROGRESS_FD, None)
    if fd is None:
        return True
    return functools.partial(PipeBar, os.fdopen(int(fd), "w", encoding="utf-8"))


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen
    streams: dict[int, str]  # open descriptor -> "progress" or "stderr"
    partial: dict[int, bytes] = field(default_factory=dict)
    error: str | None = None
    last: str = ""
    postfix: dict[str, Any] = field(default_factory=dict)


def _start(config: CollabTrainConfig, settings: str, index: int) -> _Worker:
    read, write = os.pipe()
    command = [
        *(sys.executable, "-m", "langgraph_collab.train", "--config", settings),
        *("--stages", "collect", "--workers", "1", "--num-shards", str(config.workers)),
        *("--shard-index", str(index)),
    ]
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(write,),
            env={**os.environ, PROGRESS_FD: str(write)},
        )
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)
    stderr = process.stderr.fileno()  # type: ignore[union-attr]
    return _Worker(index, process, {read: "progress", stderr: "stderr"})


def _stop(workers: list[_Worker]) -> None:
    """Ask every running worker to stop (SIGINT, as Ctrl-C), kill the ones that linger."""
    running = [w.process for w in workers if w.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGINT)
    for process in running:
        try:
            process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _on_line(worker: _Worker, kind: str, line: str, bar: Any, workers: list[_Worker]) -> None:
    if kind == "stderr":
        if line.startswith("error:") and worker.error is None:
            worker.error = line
        elif line.strip():
            worker.last = line
            bar.write(f"[worker {worker.index}] {line}", file=sys.stderr)
        return
    message = json.loads(line)
    if "total" in message:
        bar.total += message["total"]
        bar.refresh()
    if message.get("done"):
        bar.update(message["done"])
    if "postfix" in message:
        worker.postfix = message["postfix"]
        keys = {key for w in workers for key in w.postfix}
        totals = {key: sum(w.postfix.get(key, 0) for w in workers) for key in sorted(keys)}
        bar.set_postfix(totals, refresh=False)


def _watch(workers: list[_Worker], bar: Any) -> None:
    """Read every worker's progress pipe and stderr until all are closed; a worker whose
    streams closed with a failing exit status raises :class:`WorkerError` at once."""
    with selectors.DefaultSelector() as selector:
        for worker in workers:
            for fd in worker.streams:
                selector.register(fd, selectors.EVENT_READ, worker)
        while selector.get_map():
            for key, _ in selector.select():
                worker, fd = key.data, key.fd
                chunk = os.read(fd, 65536)
                if chunk:
                    *lines, worker.partial[fd] = (worker.partial.get(fd, b"") + chunk).split(b"\n")
                    for line in lines:
                        _on_line(worker, worker.streams[fd], line.decode(errors="replace"), bar,
                                 workers)  # fmt: skip
                    continue
                selector.unregister(fd)
                if rest := worker.partial.pop(fd, b""):  # a last line without its newline
                    _on_line(worker, worker.streams[fd], rest.decode(errors="replace"), bar,
                             workers)  # fmt: skip
                if worker.streams.pop(fd) == "progress":
                    os.close(fd)
                if not worker.streams and worker.process.wait() != 0:
                    first = worker.error or worker.last or "(no error line)"
                    status = worker.process.returncode
                    raise WorkerError(
                        f"collect worker {worker.index} of {len(workers)} failed (exit status "
                        f"{status}): {first}",
                        exit_status=status,
                    )


def _merge(summaries: list[dict[str, Any]], *, wall_s: float, path: str) -> dict[str, Any]:
    """One collection summary (as :class:`~langgraph_collab.collection.collect.CollectionSummary`
    dumps it) from the shards' summaries: counts, usage and peaks summed (an upper bound of
    the calls in flight at once), mean turns weighted by records."""
    from langgraph_collab.collection.collect import CollectionSummary
    from langgraph_collab.state import FidelityCounts
    from langgraph_collab.tracing import RoleUsage

    parsed = [CollectionSummary.model_validate(s) for s in summaries]
    counts = ("tasks", "recorded", "skipped", "failed", "turns", "calls", "calls_total")
    counts += ("calls_redone", "calls_cut_short")
    usage: dict[str, RoleUsage] = {}
    this_run: dict[str, RoleUsage] = {}
    cost: dict[str, float] = {}
    stops: dict[str, int] = {}
    for s in parsed:
        for role, used in s.usage.items():
            usage[role] = usage.get(role, RoleUsage()) + used
        for role, used in s.usage_this_run.items():
            this_run[role] = this_run.get(role, RoleUsage()) + used
        for role, usd in s.cost_usd.items():
            cost[role] = cost.get(role, 0.0) + usd
        for reason, n in s.stop_reasons.items():
            stops[reason] = stops.get(reason, 0) + n
    weighted = [(s.mean_turns, s.recorded) for s in parsed if s.mean_turns is not None]
    recorded = sum(n for _, n in weighted)
    merged = CollectionSummary(
        **{name: sum(getattr(s, name) for s in parsed) for name in counts},
        peak_calls_in_flight=sum(s.peak_calls_in_flight for s in parsed),
        usage=usage,
        usage_this_run=this_run,
        runs=max((s.runs for s in parsed), default=1),
        cost_usd=cost,
        wall_s=wall_s,
        records_path=path,
        errors={k: v for s in parsed for k, v in s.errors.items()},
        user_model=next((s.user_model for s in parsed if s.user_model), None),
        fidelity=sum((s.fidelity for s in parsed), FidelityCounts()),
        stop_reasons=stops,
        mean_turns=sum(m * n for m, n in weighted) / recorded if recorded else None,
    )
    return merged.model_dump(mode="json")


def run_workers(config: CollabTrainConfig) -> dict[str, Any]:
    """Collect ``config``'s tasks in ``config.workers`` shard processes under
    ``<run>/collect/shard-*-of-*/``, with one progress bar; returns the merged summary.

    Raises:
        WorkerError: a worker failed (the others are stopped; run again to resume).
    """
    collect_dir = prepare_out_dir(config.run_dir / "collect")
    settings = collect_dir / "workers.yaml"
    config.to_yaml(settings)
    workers: list[_Worker] = []
    start = time.perf_counter()
    bar = tqdm(total=0, unit="task", desc=f"collect ({config.workers} workers)")
    try:
        for index in range(config.workers):
            workers.append(_start(config, str(settings), index))
        _watch(workers, bar)
    finally:
        bar.close()
        _stop(workers)
        for worker in workers:
            for fd, kind in worker.streams.items():
                if kind == "progress":
                    os.close(fd)
            worker.process.stderr.close()  # type: ignore[union-attr]
    folders = [
        shard_dir(collect_dir, num_shards=config.workers, index=i) for i in range(config.workers)
    ]
    summaries = [json.loads((f / SUMMARY).read_text(encoding="utf-8")) for f in folders]
    return _merge(summaries, wall_s=time.perf_counter() - start, path=str(collect_dir))
