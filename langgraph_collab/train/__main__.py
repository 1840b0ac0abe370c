"""``python -m langgraph_collab.train``: from tasks to a more collaborative model.

With no arguments it runs the embedded default end to end, offline: a few bundled tasks,
the embedded model in every role, its trainable twin as the policy, collection, DPO with
LoRA for a few steps, evaluation before and after, and a report. ``--config run.yaml`` and
flags fill the same configuration; ``--help`` lists every option.
``--show-training-example N`` prints what SFT or DPO would train on (JSON lines of the
tokens that carry loss and the rest) and exits without training. Under
``accelerate launch -m langgraph_collab.train --stages train ...`` it trains on several
processes.

A failure ends the run with one line on stderr, ``error: <stage>: <Type>: <message>``
(``--debug`` adds the traceback), and a non-zero status:

- 2: configuration and credentials: a bad option or input (a task file, a folder, a
  checkpoint database, records with a task twice), a run folder another run is writing,
  a key the API refuses (HTTP 401 / 403);
- 1: a failure during the work (a model that keeps failing, a bug in a callable);
- 130 / 143: stopped by SIGINT (Ctrl-C) / SIGTERM, with one line saying what is kept and
  that the same command resumes.

``python -m langgraph_collab.train repair-records PATH`` keeps the first record of each
task in a records file that two runs wrote at once (the original is kept as ``.bak``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import traceback
from typing import Any

from langgraph_collab.collection._stop import EXIT_STATUS
from langgraph_collab.collection.run_lock import RunLockedError
from langgraph_collab.errors import status_of
from langgraph_collab.train.config import ConfigError, load_config
from langgraph_collab.train.pipeline import failed_stage, run_pipeline

BAD_INPUT = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, RunLockedError)
"""Exceptions that mean the input is wrong (exit status 2) rather than the run failing."""
CREDENTIALS = (401, 403)
"""HTTP statuses of a key the API refuses: a configuration error too (exit status 2)."""
MAX_LINE = 600


def one_line(error: BaseException) -> str:
    """``Type: message`` on one line, long messages shortened.

    Example:
        >>> one_line(ValueError("first\\n  second"))
        'ValueError: first | second'
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = " | ".join(lines) or "(no message)"
    if len(text) > MAX_LINE:
        text = text[: MAX_LINE - 30] + " ... (--debug shows it all)"
    return f"{type(error).__name__}: {text}"


def _show_count(args: list[str]) -> int | None:
    """The N of ``--show-training-example N`` (already checked by the flag parser)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--show-training-example", type=int)
    return parser.parse_known_args(args)[0].show_training_example


def show_examples(config: Any, limit: int, *, debug: bool = False) -> int:
    """Print ``limit`` training examples as JSON lines (``--show-training-example``)."""
    from langgraph_collab.train.pipeline import training_dataset
    from langgraph_collab.train.trainers import check_showable, show_training_examples

    try:
        if limit < 1:
            raise ValueError(f"--show-training-example takes a count of 1 or more, got {limit}")
        check_showable(config.method)
        examples = show_training_examples(config, limit, train_dataset=training_dataset(config))
    except Exception as error:  # reported in one line (all of it with --debug), never hidden
        if debug:
            traceback.print_exc()
        print(f"error: show-training-example: {one_line(error)}", file=sys.stderr)
        return 2 if is_bad_input(error) else 1
    for example in examples:
        print(json.dumps(example, ensure_ascii=False))
    return 0


def is_bad_input(error: BaseException) -> bool:
    """Whether ``error`` (or an error it wraps) is a configuration or credentials error.

    Example:
        >>> is_bad_input(RuntimeError("x")), is_bad_input(ValueError("x"))
        (False, True)
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, BAD_INPUT) or status_of(error) in CREDENTIALS:
            return True
        if getattr(error, "exit_status", None) == 2:  # a worker process's own verdict
            return True
        error = getattr(error, "error", None) or error.__cause__
    return False


def repair_records_command(args: list[str]) -> int:
    """``repair-records PATH...``: keep the first record of each task in each file."""
    from langgraph_collab.collection.records import repair_records

    if not args or any(arg.startswith("-") for arg in args):
        print("usage: python -m langgraph_collab.train repair-records PATH...", file=sys.stderr)
        return 2
    for path in args:
        try:
            dropped = repair_records(path)
        except (OSError, ValueError) as error:
            print(f"error: repair-records: {one_line(error)}", file=sys.stderr)
            return 2
        what = f"dropped {len(dropped)} later records of {sorted(set(dropped))}" if dropped else (
            "no task recorded twice; left untouched")  # fmt: skip
        print(f"{path}: {what}" + (f" (the original is {path}.bak)" if dropped else ""))
    return 0


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM outside a collection (which reports its own): one line, status 143."""
    print(
        "error: stopped by SIGTERM: finished stages and records are kept; run the same "
        "command again to resume",
        file=sys.stderr,
        flush=True,
    )
    raise SystemExit(EXIT_STATUS[signal.SIGTERM])


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["repair-records"]:
        return repair_records_command(args[1:])
    ours = threading.current_thread() is threading.main_thread()
    ours = ours and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    if ours:
        signal.signal(signal.SIGTERM, _terminated)
    try:
        return _run(args)
    finally:
        if ours:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run(args: list[str]) -> int:
    debug = "--debug" in args
    try:
        config = load_config(args, exit_on_error=False)
    except ConfigError as error:
        print(f"error: config: {error}", file=sys.stderr)
        return 2
    show = _show_count(args)
    if show is not None:
        return show_examples(config, show, debug=debug)
    try:
        state = run_pipeline(config)
    except KeyboardInterrupt as error:
        if not getattr(error, "reported", None):  # a collection printed its own line
            print("error: interrupted: run the same command again to resume", file=sys.stderr)
        return EXIT_STATUS[signal.SIGINT]
    except Exception as error:  # reported in one line (all of it with --debug), never hidden
        if debug:
            traceback.print_exc()
        where = failed_stage(error) or "setup"
        print(f"error: {where}: {one_line(error)}", file=sys.stderr)
        return 2 if is_bad_input(error) else 1
    print(state.get("report", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
