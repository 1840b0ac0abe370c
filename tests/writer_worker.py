"""A collection run with scripted models, as a subprocess of the one-writer and ledger tests.

    python tests/writer_worker.py OUT_DIR N_TASKS CALLS_LOG [BLOCK_AT]

Every model call appends a line to CALLS_LOG (the model's own count, kills included). The
call number BLOCK_AT (1-based, of this process) then prints ``blocked`` and waits for a
line on stdin, holding the whole event loop: the parent knows the run holds its folder
and is inside a model call, and may kill it there or let it go on (event-driven, no
sleeps). The summary is printed as JSON on the last line of stdout.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph_collab.collection.collect import collect
from langgraph_collab.tasks import load_tasks
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import judge_json, make_assistant, make_user

out, n_tasks, calls_log = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
block_at = int(sys.argv[4]) if len(sys.argv) > 4 else 0
log = calls_log.open("a", buffering=1)
made = 0


def logged(model: ScriptedChatModel) -> ScriptedChatModel:
    script = model.script

    def wrapped(messages):
        global made
        made += 1
        log.write(".\n")
        if made == block_at:
            print("blocked", flush=True)
            sys.stdin.readline()
        return script(messages) if callable(script) else script[0]

    model.script = wrapped
    return model


summary = collect(
    load_tasks("math", limit=n_tasks),
    user=logged(make_user(stop_after=2)),
    assistant=logged(make_assistant()),
    judge=logged(ScriptedChatModel(script=[judge_json()])),
    out_dir=out,
    candidates=2,
    samples=2,
    window=1,
    max_messages=10,
    max_concurrent_tasks=2,
    progress=False,
)
print(summary.model_dump_json(), flush=True)
