"""Tokens per MR by role, and the share of each call's input a provider's prompt cache could
reuse: what an MR costs with API models.

One MR per bundled task kind (math, code, document, ambiguity: the first training task of
each) at the paper's settings, K=3 candidates x S=3 futures x w=2 turns, after a shared
history of three messages; scripted roles (the user, the assistant and the combined judge)
so that only the prompts vary. Every chat-model call's input is read from the callbacks
(``on_chat_model_start``), rendered as ``role: content`` lines and counted with tiktoken
``cl100k_base``; outputs likewise. A call's *reusable prefix* is the longest token prefix
its input shares with an earlier call of the same MR (any role: one model may play all),
which is what OpenAI's automatic caching, vLLM's and llama.cpp's prefix caches can serve
from cache. The futures run one at a time (``max_concurrency=1``), so "earlier" is
well-defined; in parallel, a provider sees the first calls together and reuses less.

``--prompts DIR`` takes the judge's and the simulated user's templates from ``DIR``
(``judge.txt``, ``simulated_user.txt``), e.g. an earlier commit's, for a before/after in one
process of this code:

    git archive c840cc9 langgraph_collab/prompts | tar -x -C /tmp/old
    python benchmarks/mr_tokens.py --prompts /tmp/old/langgraph_collab/prompts
    python benchmarks/mr_tokens.py
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from langgraph_collab import (
    RewardOptions,
    create_judge,
    create_simulated_user,
    load_tasks,
    score_candidates,
)
from langgraph_collab.reward.metrics.tokens import tiktoken_encoding, token_counter
from langgraph_collab.testing import ScriptedChatModel
from langgraph_collab.tracing import role_of

KINDS = ("math", "code", "document", "ambiguity")
OPTIONS = RewardOptions(samples=3, window=2)
CANDIDATES = [
    "Here is a first version; tell me what to change.",
    "Before I start: which format do you need, and is there a length limit?",
    "Done. I assumed the usual conventions; the full result is below.",
]
USER_SAYS = "Thanks. Could you make it a bit shorter and say which assumptions you made?"
ASSISTANT_SAYS = (
    "Sure. I kept the same approach, shortened the explanation and listed my assumptions: "
    "the inputs are valid and the usual conventions apply."
)
VERDICT = '{"thought": "ok", "final_artifact": "done", "interactivity": "B", "correct": true}'


class PromptRecorder(BaseCallbackHandler):
    """Every chat-model call's input and output text, with its role, in start order."""

    run_inline = True
    ignore_chain = ignore_retriever = ignore_agent = ignore_retry = True

    def __init__(self) -> None:
        self.calls: dict[Any, dict[str, str]] = {}
        self._lock = threading.Lock()

    def on_chat_model_start(
        self, serialized: Any, messages: list[list[BaseMessage]], *, run_id: Any, **kw: Any
    ) -> None:
        text = "\n".join(f"{m.type}: {m.text}" for m in messages[0])
        with self._lock:
            self.calls[run_id] = {"role": role_of(kw.get("tags")), "input": text, "output": ""}

    def on_llm_end(self, response: LLMResult, *, run_id: Any, **kw: Any) -> None:
        self.calls[run_id]["output"] = response.generations[0][0].text


def history(task: Any) -> list[tuple[str, str]]:
    return [
        ("user", task.request.split(".")[0][:200] or "I need some help"),
        ("assistant", "Happy to help. What should the result look like?"),
        ("user", "Nothing fancy, just correct and clear."),
    ]


def prefix_len(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def one_mr(task: Any, templates: dict[str, str]) -> list[dict[str, Any]]:
    """The calls of one MR: role, input and output tokens, reusable prefix tokens."""
    user_model = ScriptedChatModel(script=[USER_SAYS])
    user = create_simulated_user(user_model, prompt=templates.get("simulated_user"))
    assistant = ScriptedChatModel(script=[ASSISTANT_SAYS])
    judge = create_judge(ScriptedChatModel(script=[VERDICT]), prompt=templates.get("judge"))
    recorder = PromptRecorder()
    score_candidates(
        history(task), CANDIDATES, task=task, user=user, assistant=assistant, judge=judge,
        options=OPTIONS, max_concurrency=1, config={"callbacks": [recorder]},
    )  # fmt: skip
    count, encoding = token_counter(), tiktoken_encoding()
    calls, seen = [], []
    for call in recorder.calls.values():
        tokens = encoding.encode(call["input"], disallowed_special=())
        reused = max((prefix_len(tokens, earlier) for earlier in seen), default=0)
        seen.append(tokens)
        calls.append({"role": call["role"], "input": len(tokens), "reused": reused,
                      "output": count(call["output"])})  # fmt: skip
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=Path, help="folder of judge.txt / simulated_user.txt")
    args = parser.parse_args()
    templates = {}
    if args.prompts:
        templates = {
            n: (args.prompts / f"{n}.txt").read_text() for n in ("judge", "simulated_user")
        }
    where = args.prompts or "this checkout's"
    print(f"one MR per kind, K={len(CANDIDATES)} S={OPTIONS.samples} w={OPTIONS.window}, "
          f"prompts: {where}; tokens: cl100k_base")  # fmt: skip
    totals: dict[str, dict[str, int]] = {}
    for kind in KINDS:
        task = load_tasks(kind, split="train", limit=1)[0]
        for call in one_mr(task, templates):
            t = totals.setdefault(call["role"], {"calls": 0, "input": 0, "reused": 0, "output": 0})
            for key in ("input", "reused", "output"):
                t[key] += call[key]
            t["calls"] += 1
    every = {k: sum(t[k] for t in totals.values()) for k in ("calls", "input", "reused", "output")}
    print(f"{'role':16} {'calls/MR':>9} {'input/MR':>9} {'output/MR':>10} {'reusable prefix':>16}")
    for role, t in [*sorted(totals.items()), ("all", every)]:
        share = t["reused"] / t["input"] if t["input"] else 0.0
        n = len(KINDS)
        print(f"{role:16} {t['calls'] / n:9.1f} {t['input'] / n:9.0f} {t['output'] / n:10.0f} "
              f"{share:15.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
