"""A collection run with scripted models, as a subprocess of the kill/resume tests
(test_collect) and the one-writer tests (test_one_writer).

    python tests/collect_worker.py MODE OUT_DIR N_TASKS [--calls-log PATH]
        [--stop-after N] [--latency S] [--block-at N]

Every model call appends a line to the calls log (``OUT_DIR/calls.log`` unless given: the
models' own count, calls of killed runs included). ``MODE`` says how a parent follows the
run, event-driven whatever the machine's speed:

- ``count``: each call prints ``call``, so the parent can kill the run after a given
  number of calls;
- ``block``: call number ``--block-at`` (1-based, of this process) prints ``blocked`` and
  waits for a line on stdin, holding the whole event loop: the parent knows the run holds
  its folder and is inside a model call, and may kill it there or let it go on.

The summary is printed as JSON on the last line of stdout.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph_collab.collection.collect import collect
from langgraph_collab.tasks import load_tasks
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import judge_json, make_assistant, make_user

parser = argparse.ArgumentParser()
parser.add_argument("mode", choices=["count", "block"])
parser.add_argument("out", type=Path)
parser.add_argument("n_tasks", type=int)
parser.add_argument("--calls-log", type=Path)
parser.add_argument("--stop-after", type=int, default=2, help="user turns per conversation")
parser.add_argument("--latency", type=float, default=0.0, help="seconds per model call")
parser.add_argument("--block-at", type=int, default=0, help="block mode: 0 never blocks")
args = parser.parse_args()
args.out.mkdir(parents=True, exist_ok=True)
log = (args.calls_log or args.out / "calls.log").open("a", buffering=1)
made = 0


def logged(model: ScriptedChatModel) -> ScriptedChatModel:
    script = model.script

    def wrapped(messages):
        global made
        made += 1
        log.write(".\n")
        if args.mode == "count":
            print("call", flush=True)  # the parent counts these to pick its moment to kill
        elif made == args.block_at:
            print("blocked", flush=True)
            sys.stdin.readline()
        return script(messages) if callable(script) else script[0]

    model.script = wrapped
    return model


summary = collect(
    load_tasks("math", limit=args.n_tasks),
    user=logged(make_user(stop_after=args.stop_after, latency=args.latency)),
    assistant=logged(make_assistant(args.latency)),
    judge=logged(ScriptedChatModel(script=[judge_json()], latency=args.latency)),
    out_dir=args.out,
    candidates=2,
    samples=2,
    window=1,
    max_messages=10,
    max_concurrent_tasks=2,
    progress=False,
)
print(summary.model_dump_json(), flush=True)
