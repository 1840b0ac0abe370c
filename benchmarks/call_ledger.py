"""The cost of counting every call in a run folder's call ledger (``usage.jsonl``): the
CPU per model call of :class:`~langgraph_collab.collection._call_ledger.CallLedger` (one
appended line at the call's start, one at its end) against
:class:`~langgraph_collab.tracing.UsageLedger` (counts in memory), both fed the same callback
events in the same process.

    python benchmarks/call_ledger.py [--calls 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from langgraph_collab.collection._call_ledger import CallLedger
from langgraph_collab.tracing import UsageLedger

USAGE = {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
RESULT = LLMResult(generations=[[ChatGeneration(message=AIMessage("x", usage_metadata=USAGE))]])


def per_call_us(handler: object, calls: int) -> float:
    """Microseconds of handler CPU per call: a start and an end event each."""
    ids = [uuid.uuid4() for _ in range(calls)]
    start = time.perf_counter()
    for run_id in ids:
        handler.on_chat_model_start(  # type: ignore[attr-defined]
            {}, [[]], run_id=run_id, tags=["role:judge"], metadata={"task_id": "t"}
        )
        handler.on_llm_end(RESULT, run_id=run_id)  # type: ignore[attr-defined]
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.repeats):
        memory = per_call_us(UsageLedger(group_by="task_id"), args.calls)
        ledger = CallLedger(Path(tempfile.mkdtemp()) / "usage.jsonl")
        on_file = per_call_us(ledger, args.calls)
        ledger.close()
        print(f"UsageLedger {memory:.1f} us/call   CallLedger {on_file:.1f} us/call")


if __name__ == "__main__":
    main()
