"""Checkpointing forward samples in collection: write volume against the calls a kill loses.

``collect(..., checkpoint_samples=...)`` chooses whether the MR forward samples of a turn
are checkpointed (the reward subgraph and its futures inherit the collection's SQLite saver)
or not (only the collection graph's own steps are). Both are measured here on the bundled
math tasks with scripted fake models (no latency: what is left is the checkpointing and the
graph's own work), N=3 candidates x S=3 forward samples x w=2 turns, a user that ends the
chat after 3 messages, 4 tasks in flight (``collect``'s default):

- volume, per clean run: rows in ``checkpoints`` and ``writes``, database bytes (after a
  ``wal_checkpoint(TRUNCATE)``, the -wal file included), bytes per record, wall and CPU
  seconds (``time.process_time``: every thread of this process, SQLite's included), the
  median of ``--repeats`` runs, modes alternated;
- durability: the same collection stopped at ``--kills`` points spread over its calls (the
  Nth model call raises; the role takes it as permanent and ``collect`` stops at once, as
  it would after a kill), then run again to the end; the calls it lost are all calls made
  minus a clean run's. LangGraph awaits its pending checkpoint writes on the way out of a
  failed run, which a SIGKILL may not let it finish: a real kill can lose a little more.

    python benchmarks/checkpoint_volume.py [--tasks 8] [--repeats 3] [--kills 8]
"""

from __future__ import annotations

import argparse
import itertools
import sqlite3
import statistics
import string
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from langgraph_collab.collection.collect import collect
from langgraph_collab.collection.records import read_records
from langgraph_collab.errors import PermanentError
from langgraph_collab.tasks import load_tasks
from langgraph_collab.testing import ScriptedChatModel

OPTIONS = {"candidates": 3, "samples": 3, "window": 2, "max_messages": 14}
VERDICT = '{"thought": "ok", "final_artifact": "42", "interactivity": "A", "correct": true}'
MODES = {"checkpointed": True, "not checkpointed": False}


class Killed(Exception):
    """The stop injected at the Nth model call."""


class Calls:
    """Counts every model call of all roles; the call numbered ``kill_at`` raises."""

    def __init__(self, kill_at: int | None = None) -> None:
        self.n, self.kill_at, self.words = 0, kill_at, itertools.count()

    def counted(self, reply: Callable[[list], str]) -> Callable[[list], str]:
        def script(messages: list) -> str:
            self.n += 1
            if self.n == self.kill_at:
                raise Killed(f"stopped at model call {self.n}")
            return reply(messages)

        return script

    def word(self) -> str:
        """A fresh word per assistant reply: candidates differ (identical texts would be
        scored once) and never contain a number a grader could take for the answer."""
        n, out = next(self.words), ""
        while True:
            n, digit = divmod(n, 26)
            out = string.ascii_lowercase[digit] + out
            if not n:
                return out


def user_script(messages: list) -> str:
    """The simulated user (its view: roles swapped): three messages, then it ends the chat."""
    written = sum(1 for m in messages if m.type == "ai")
    return "Thanks! [[TERMINATE CHAT]]" if written >= 3 else f"Could you explain step {written}?"


def run(out: Path, n_tasks: int, checkpoint_samples: bool, calls: Calls) -> None:
    collect(
        load_tasks("math", limit=n_tasks),
        user=ScriptedChatModel(script=calls.counted(user_script)),
        assistant=ScriptedChatModel(script=calls.counted(lambda m: f"Step {calls.word()}.")),
        judge=ScriptedChatModel(script=calls.counted(lambda m: VERDICT)),
        out_dir=out, checkpoint_samples=checkpoint_samples, progress=False, **OPTIONS,
    )  # fmt: skip


def volume(out: Path) -> dict[str, int]:
    """Rows and bytes of ``out/checkpoints.sqlite``, its WAL folded in first."""
    path = out / "checkpoints.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        checkpoints = db.execute("SELECT count(*) FROM checkpoints").fetchone()[0]
        writes = db.execute("SELECT count(*) FROM writes").fetchone()[0]
    wal = path.with_name(path.name + "-wal")
    size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return {"checkpoints": checkpoints, "writes": writes, "bytes": size}


def clean(root: Path, n_tasks: int, checkpoint_samples: bool, repeat: int) -> dict:
    out = root / f"clean-{checkpoint_samples}-{repeat}"
    calls = Calls()
    wall, cpu = time.perf_counter(), time.process_time()
    run(out, n_tasks, checkpoint_samples, calls)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    records = len(read_records(out / "records.jsonl"))
    return {**volume(out), "wall": wall, "cpu": cpu, "calls": calls.n, "records": records}


def lost_to_kill(out: Path, n_tasks: int, checkpoint_samples: bool, kill_at: int) -> int:
    """Model calls made by a run stopped at call ``kill_at`` and the run that finishes it."""
    calls = Calls(kill_at)
    try:
        run(out, n_tasks, checkpoint_samples, calls)
    except PermanentError as error:
        if not isinstance(error.__cause__, Killed):
            raise
    else:
        raise RuntimeError(f"the run was not stopped at call {kill_at}")
    calls.kill_at = None
    run(out, n_tasks, checkpoint_samples, calls)
    if len(read_records(out / "records.jsonl")) != n_tasks:
        raise RuntimeError("the resumed run did not record every task")
    return calls.n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=8, help="math tasks collected per run")
    parser.add_argument("--repeats", type=int, default=3, help="clean runs per mode (median)")
    parser.add_argument("--kills", type=int, default=8, help="stop points per mode")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="checkpoint-volume-"))
    run(root / "warm-up", 1, True, Calls())  # imports, tokenizer, first compile
    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for repeat in range(args.repeats):
        for mode, flag in MODES.items():
            runs[mode].append(clean(root, args.tasks, flag, repeat))
    median = {
        mode: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        for mode, rs in runs.items()
    }
    print(f"{args.tasks} math tasks, {OPTIONS}, 4 in flight, median of {args.repeats} runs")
    print(f"{'forward samples':<18}{'checkpoints':>12}{'writes':>8}{'MB':>7}{'KB/record':>11}"
          f"{'wall s':>8}{'CPU s':>7}{'calls':>7}")  # fmt: skip
    for mode, m in median.items():
        print(f"{mode:<18}{m['checkpoints']:>12.0f}{m['writes']:>8.0f}{m['bytes'] / 1e6:>7.2f}"
              f"{m['bytes'] / m['records'] / 1e3:>11.0f}{m['wall']:>8.2f}{m['cpu']:>7.2f}"
              f"{m['calls']:>7.0f}")  # fmt: skip
    on, off = median["checkpointed"], median["not checkpointed"]
    print("checkpointed / not: " + ", ".join(
        f"{key} {on[key] / off[key]:.2f}x" for key in ("checkpoints", "writes", "bytes", "wall",
                                                        "cpu")))  # fmt: skip

    total = int(off["calls"])
    points = [total * (i + 1) // (args.kills + 1) for i in range(args.kills)]
    print(f"\nstopped at model calls {points} of {total}, then resumed to the end")
    print(f"{'forward samples':<18}{'calls lost per stop':>21}{'mean':>7}{'max':>5}")
    for mode, flag in MODES.items():
        lost = [
            lost_to_kill(root / f"kill-{flag}-{at}", args.tasks, flag, at) - total for at in points
        ]
        shown = " ".join(map(str, lost))
        print(f"{mode:<18}{shown:>21}{statistics.mean(lost):>7.1f}{max(lost):>5}")
    print(f"(a clean run: {total} calls, {total / args.tasks:.0f} per task; calls lost = calls "
          f"of the stopped run and its resume - a clean run's)")  # fmt: skip


if __name__ == "__main__":
    main()
