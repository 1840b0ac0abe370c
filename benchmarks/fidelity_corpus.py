"""The fidelity guard on a labelled corpus of simulated-user turns: for each check and each
task kind, the share of natural turns it rejects (false positives) and the share of drifted
turns it catches (recall), then the whole guard's. No model call unless ``--llm`` is given.

The corpus (``tests/data/fidelity_corpus.jsonl``, written for this project) holds natural
turns (answering a question politely, confirming or doubting an answer, pasting one's own
error, code, data or a long draft, thanks with the stop token, questions back, short replies)
and drifted ones (assistant voice, solving one's own task, pasting the hidden request,
reference or target, a reference stated before the assistant said it, off-topic, garbled),
each with its task and the conversation before it.

    python benchmarks/fidelity_corpus.py                 # the rules as they are
    git show 2992ab8:langgraph_collab/reward/fidelity.py > /tmp/old_fidelity.py
    python benchmarks/fidelity_corpus.py --rules /tmp/old_fidelity.py   # another copy's rules
    python benchmarks/fidelity_corpus.py --llm scripted  # + llm_check with a scripted judge
    python benchmarks/fidelity_corpus.py --llm local --every 4  # the embedded model as judge
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage

from langgraph_collab import Task
from langgraph_collab.errors import TransientFailure
from langgraph_collab.reward.fidelity import FidelityGuard, TurnContext, create_fidelity_guard
from langgraph_collab.state import TERMINATE
from langgraph_collab.tasks import load_tasks

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
KINDS = ("math", "code", "document", "ambiguity")


def load_corpus(path: Path = DATA / "fidelity_corpus.jsonl") -> list[dict]:
    """The labelled cases, each with its ``Task`` and its conversation as messages."""
    tasks = {f"bundled:{task.id}": task for kind in KINDS for task in load_tasks(kind, split="all")}
    for line in (DATA / "fidelity_tasks.jsonl").read_text(encoding="utf-8").splitlines():
        task = Task(**json.loads(line))
        tasks[task.id] = task
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        case["task"] = tasks[case["task"]]
        case["messages"] = [
            (AIMessage if role == "assistant" else HumanMessage)(text)
            for role, text in case["context"]
        ]
        if case["task"].opening:  # the fixed opening comes first in every conversation
            case["messages"].insert(0, HumanMessage(case["task"].opening))
        cases.append(case)
    return cases


def failing(check: Callable, case: dict) -> bool:
    """Whether ``check`` rejects the case's turn (the stop token is never held against it)."""
    body = case["turn"].replace(TERMINATE, "").strip()
    if not body:
        return TERMINATE not in case["turn"]
    return check(body, TurnContext(task=case["task"], messages=case["messages"])) is not None


def table(checks: Mapping[str, Callable], cases: list[dict], guard: FidelityGuard) -> list[str]:
    """Markdown rows: false-positive rate and recall per check and kind, then the guard."""
    natural: dict[str, list] = defaultdict(list)
    drifted: dict[str, list] = defaultdict(list)
    for case in cases:
        (natural if case["label"] == "natural" else drifted)[case["task"].kind].append(case)
    rows = ["| check | kind | natural rejected (FP) | drifted caught (recall) |"]
    rows.append("|---|---|---|---|")
    for name, check in [*checks.items(), ("guard (any check)", None)]:
        for kind in (*KINDS, "all"):
            nat = [c for k in KINDS for c in natural[k]] if kind == "all" else natural[kind]
            dri = [c for k in KINDS for c in drifted[k]] if kind == "all" else drifted[kind]
            if any(c.get("check") == name for c in cases):  # recall over its own turns
                dri = [c for c in dri if c["check"] == name]

            def rejects(case: dict, check: Callable | None = check) -> bool:
                if check is not None:
                    return failing(check, case)
                return bool(guard.check(case["turn"], task=case["task"], messages=case["messages"]))

            fp = sum(map(rejects, nat))
            caught = sum(map(rejects, dri))
            recall = f"{caught}/{len(dri)} ({100 * caught / len(dri):.0f}%)" if dri else "-"
            rows.append(
                f"| {name} | {kind} | {fp}/{len(nat)} ({100 * fp / max(len(nat), 1):.1f}%) "
                f"| {recall} |"
            )
    return rows


def misjudged(cases: list[dict], guard: FidelityGuard) -> list[str]:
    """One line per natural turn rejected and per drifted turn passed."""
    lines = []
    for case in cases:
        failed = guard.check(case["turn"], task=case["task"], messages=case["messages"])
        if bool(failed) != (case["label"] == "drifted"):
            verdict = f"rejected as {failed[0]}" if failed else "passed"
            what = f"{case['label']} ({case['what']}) {verdict}"
            lines.append(f"- {case['task'].kind}: {what}: {case['turn'][:90]!r}")
    return lines


def rules_from(path: str) -> Mapping[str, Callable]:
    """``RULE_CHECKS`` of another copy of ``fidelity.py`` (e.g. an earlier commit's)."""
    spec = importlib.util.spec_from_file_location("fidelity_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.RULE_CHECKS


def scripted_judge() -> object:
    """A scripted judge that always answers "faithful": it measures the check's plumbing and
    its calls, not a model's judgement."""
    from langgraph_collab.testing import ScriptedChatModel

    return ScriptedChatModel(script=['{"faithful": true, "reason": "ok"}'])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", help="a fidelity.py whose RULE_CHECKS to measure")
    parser.add_argument("--llm", choices=("scripted", "local"), help="also measure llm_check")
    parser.add_argument("--show", action="store_true", help="list every misjudged turn")
    parser.add_argument("--every", type=int, default=1, help="measure every n-th turn only")
    args = parser.parse_args()

    cases = load_corpus()[:: args.every]
    checks = dict(rules_from(args.rules)) if args.rules else dict(create_fidelity_guard().checks)
    calls: Counter = Counter()
    if args.llm:
        from langgraph_collab.reward.fidelity import llm_check

        if args.llm == "local":
            from langgraph_collab.roles.local import load_local_model

            model = load_local_model(max_tokens=96, seed=0, n_ctx=2048)
        else:
            model = scripted_judge()
        llm, verdicts = llm_check(model), {}

        def counted(text: str, context: TurnContext) -> str | None:
            calls["llm"] += 1  # what the guard asks for; the model sees each turn once
            key = (text, context.task.id, len(context.messages), context.last_reply)
            if key not in verdicts:
                try:
                    verdicts[key] = llm(text, context)
                except TransientFailure:  # no usable verdict after its retries: counted
                    calls["unjudged"] += 1
                    verdicts[key] = None
            return verdicts[key]

        checks["llm"] = counted
    guard = create_fidelity_guard(checks=checks)
    labels = Counter((case["task"].kind, case["label"]) for case in cases)
    sizes = (f"{kind} {labels[kind, 'natural']}/{labels[kind, 'drifted']}" for kind in KINDS)
    print(f"{len(cases)} turns (natural/drifted): {', '.join(sizes)}")
    print(f"rules from {args.rules or 'langgraph_collab.reward.fidelity'}", flush=True)
    print("\n".join(table(checks, cases, guard)))
    if args.llm:  # what the guard spends in the loop: checks in order, up to the first failure
        calls["llm"] = 0
        for case in cases:
            guard.first_failure(case["turn"], task=case["task"], messages=case["messages"])
        print(f"guard cost: {calls['llm']} llm_check calls for {len(cases)} turns (the rules: 0)")
        print(f"turns llm_check could not judge (no usable reply): {calls['unjudged']}")
    if args.show:
        print("\n".join(misjudged(cases, guard)) or "(none misjudged)")


if __name__ == "__main__":
    main()
