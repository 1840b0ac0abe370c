"""Run a small collection with scripted models (used by the kill/resume tests as a subprocess).

    python tests/collect_worker.py OUT_DIR N_TASKS LATENCY

Every model call appends a line to OUT_DIR/calls.log, so calls made by runs that were
killed are counted too, and prints a line to stdout, so a parent can kill it after a given
number of calls (event-driven, whatever the machine's speed).
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph_collab.collection.collect import collect
from langgraph_collab.tasks import load_tasks
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import judge_json, make_assistant, make_user

out, n_tasks, latency = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
calls_log = (out / "calls.log").open("a", buffering=1)


def logged(model: ScriptedChatModel) -> ScriptedChatModel:
    script = model.script

    def wrapped(messages):
        calls_log.write(".\n")
        print("call", flush=True)  # the parent counts these to pick its moment to kill
        return script(messages) if callable(script) else script[0]

    model.script = wrapped
    return model


summary = collect(
    load_tasks("math", limit=n_tasks),
    user=logged(make_user(stop_after=3, latency=latency)),
    assistant=logged(make_assistant(latency)),
    judge=logged(ScriptedChatModel(script=[judge_json()], latency=latency)),
    out_dir=out,
    candidates=2,
    samples=2,
    window=1,
    max_messages=10,
    max_concurrent_tasks=2,
    progress=False,
)
with (out / "runs.jsonl").open("a") as log:
    log.write(json.dumps({"calls": summary.calls, "skipped": summary.skipped}) + "\n")
