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
(``--debug`` adds the traceback), and a non-zero status: 2 for a bad configuration or
input (a task file, a folder, a checkpoint database), 1 for a failure while running,
130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from typing import Any

from langgraph_collab.train.config import ConfigError, load_config
from langgraph_collab.train.pipeline import failed_stage, run_pipeline

BAD_INPUT = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError)
"""Exceptions that mean the input is wrong (exit status 2) rather than the run failing."""
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
        return 2 if isinstance(error, BAD_INPUT) else 1
    for example in examples:
        print(json.dumps(example, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = list(sys.argv[1:] if argv is None else argv)
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
    except KeyboardInterrupt:
        print("error: interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as error:  # reported in one line (all of it with --debug), never hidden
        if debug:
            traceback.print_exc()
        where = failed_stage(error) or "setup"
        print(f"error: {where}: {one_line(error)}", file=sys.stderr)
        return 2 if isinstance(error, BAD_INPUT) else 1
    print(state.get("report", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
