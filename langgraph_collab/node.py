"""The collaborative node: CollabLLM dropped into an agent you already have.

:func:`create_collaborative_node` wraps a chat model or a compiled agent graph (such as
``create_react_agent(model, tools)``) as a node over ``messages`` that takes the agent's
place in your own ``StateGraph``. Modes:

- ``"proactive"``: the agent answers under the paper's "Proactive Base" prompt (ask when
  needed, suggest next steps). One agent run, no lookahead.
- ``"lookahead"``: N candidate replies are sampled from the agent and each is scored by the
  Multiturn-aware Reward: S futures of w turns, a simulated user (who wants what the user's
  messages so far ask for) against the *real* agent with its real tools and state, judged.
  The best candidate is the reply; a per-turn :class:`Budget` bounds the lookahead.

Forks: candidates and futures never run in the live thread. When the host graph (or the
agent) has a checkpointer, each candidate runs in a thread of its own and each future in a
new thread forked from its candidate's with ``get_state``/``update_state``, so the agent
keeps its whole state (tool calls and results included) across future turns; fork threads
are deleted afterwards unless ``keep_forks=True``. Without a checkpointer, forks are
in-memory copies of the agent's state. Tools run for real in candidates and futures.

The node returns the chosen candidate's messages and, under ``collab`` (a
:class:`CollabTurn`; declare the key in your state, e.g. with :class:`CollaborativeState`),
the candidates, their MR scores and the chosen index. Traces show a run per candidate
(``candidate_<k>``), a reward graph per candidate (``reward_<k>``, metadata
``collab_candidate``) and a ``collab_choice`` run with metadata ``collab_scores`` and
``collab_chosen``.

Example:
    >>> from langgraph.checkpoint.memory import InMemorySaver
    >>> from langgraph.graph import START, StateGraph
    >>> from langgraph_collab.node import CollaborativeState, create_collaborative_node
    >>> from langgraph_collab.testing import ScriptedChatModel
    >>> model = ScriptedChatModel(script=["Sure - which city are you flying from?"])
    >>> graph = (
    ...     StateGraph(CollaborativeState)
    ...     .add_node("agent", create_collaborative_node(model, mode="proactive"))
    ...     .add_edge(START, "agent")
    ...     .compile(checkpointer=InMemorySaver())
    ... )
    >>> out = graph.invoke({"messages": [("user", "Book me a flight")]},
    ...                    {"configurable": {"thread_id": "1"}})
    >>> out["messages"][-1].content
    'Sure - which city are you flying from?'
    >>> node = create_collaborative_node(  # doctest: +SKIP
    ...     create_react_agent(model, tools), mode="lookahead", user="openai:gpt-4o-mini",
    ...     judge="openai:gpt-4o-mini", candidates=3, samples=2, window=1,
    ...     budget=Budget(seconds=60))
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.errors import GraphBubbleUp
from langgraph.func import task as durable_task
from langgraph.graph import MessagesState
from langgraph.types import interrupt
from typing_extensions import TypedDict

from langgraph_collab._lookahead import (
    AgentLike,
    Budget,
    BudgetExhausted,
    Forks,
    Gate,
    as_graph,
    detached,
    gather_kept,
    with_handler,
)
from langgraph_collab._sync import run_sync
from langgraph_collab.assistant import proactive_prompt
from langgraph_collab.judge import create_judge
from langgraph_collab.reward import ascore_candidates
from langgraph_collab.scoring import MultiturnReward
from langgraph_collab.state import TERMINATE, Task
from langgraph_collab.user import create_simulated_user

__all__ = [
    "Budget",
    "BudgetExhausted",
    "CollabTurn",
    "CollaborativeState",
    "conversation_task",
    "create_collaborative_node",
]

HUMAN = "human"
HUMAN_INSTRUCTIONS = (
    "Play the user: write the message you would send after each candidate reply, one per "
    f"candidate (a list of strings, in order); end with {TERMINATE} if you would stop there."
)
NO_LOOKAHEAD = "the conversation does not end with a user message: no lookahead"


class CollabTurn(TypedDict, total=False):
    """A lookahead turn, under the ``collab`` state key: ``candidates`` (texts), ``scores``
    (MR means; None when unscored), ``stderr``, ``components`` (mean per reward component),
    ``n_failed`` (masked futures), ``rejected`` (the simulated user's turns rejected by
    the fidelity guard, by reason, per candidate), ``chosen`` (index into these lists), ``user``
    (``"simulated"`` or ``"human"``), ``replies`` (the human's), ``forks`` (``"checkpoint"``
    or ``"copy"``), ``fork_threads`` (with ``keep_forks``), ``calls`` and ``tokens`` (every
    model call of the turn), ``seconds``, ``budget_exhausted``, ``note`` (no lookahead)."""

    mode: str
    user: str
    candidates: list[str]
    scores: list[float | None]
    stderr: list[float | None]
    components: list[dict[str, float]]
    n_failed: list[int]
    rejected: list[dict[str, int]]
    chosen: int
    replies: list[str]
    forks: str
    fork_threads: list[str]
    calls: int
    tokens: int
    seconds: float
    budget_exhausted: bool
    note: str


class CollaborativeState(MessagesState):
    """``MessagesState`` plus the collaborative node's last turn under ``collab``."""

    collab: CollabTurn


def conversation_task(messages: Sequence[BaseMessage], *, kind: str = "chat") -> Task:
    """The simulated user's goal, built from the conversation: what the user said so far."""
    said = [m.text for m in messages if isinstance(m, HumanMessage) and m.text]
    quoted = "\n".join(f'- "{text}"' for text in said) or '- "(nothing yet)"'
    request = (
        "Continue this conversation as the same user, still wanting what you asked for. "
        f"Your messages so far:\n{quoted}"
    )
    return Task(id="conversation", kind=kind, request=request)


def create_collaborative_node(
    agent: AgentLike,
    *,
    mode: Literal["proactive", "lookahead"] = "lookahead",
    user: Any = None,
    judge: Any = None,
    candidates: int = 3,
    samples: int = 2,
    window: int = 1,
    budget: Budget | Mapping[str, float] | None = None,
    task: Task | Callable[[dict], Task] | None = None,
    system_prompt: str | None = None,
    proactive: bool = False,
    fork: Literal["auto", "checkpoint", "copy"] = "auto",
    keep_forks: bool = False,
    metrics: Any = None,
    weights: Mapping[str, float] | None = None,
    token_lambda: float | None = None,
    max_concurrency: int | None = None,
    state_key: str = "collab",
    name: str = "collaborative_agent",
) -> RunnableLambda:
    """Wrap ``agent`` as a collaborative node (the modes: see the module docstring).

    Args:
        agent: A chat model, a model spec, a compiled graph over ``messages`` (an existing
            agent), or a Runnable/callable taking the message list.
        mode: ``"proactive"`` (prompt only) or ``"lookahead"`` (MR-scored candidates).
        user: The simulated user (anything :func:`create_simulated_user` takes), or
            ``"human"``: the node interrupts with the candidates and resumes with the
            user's next message after each (one future each, S = w = 1; needs a
            checkpointer). Default: the agent's model when the agent is a chat model.
        judge: Anything :func:`create_judge` takes; default: as ``user``.
        candidates, samples, window: N candidates; S futures of w turns per candidate.
        budget: A :class:`Budget` (or a dict of its fields) per turn; None: unbounded.
        task: The simulated user's goal (a Task, or ``state -> Task``); default: the
            state's ``task`` if it holds a Task, else :func:`conversation_task`.
        system_prompt: The agent's system prompt for its replies (proactive mode: the
            paper's Proactive Base prompt unless given).
        proactive: In lookahead mode, sample every other candidate under the proactive
            prompt (the paper's mix for data generation).
        fork: ``"auto"`` (checkpoint forks when there is a checkpointer, else copies),
            ``"checkpoint"`` or ``"copy"``.
        keep_forks: Keep fork threads (listed in ``fork_threads``) for inspection.
        metrics, weights, token_lambda: As :func:`create_reward_graph`.
        max_concurrency: Futures in flight per candidate.
        state_key: The state key of the turn's :class:`CollabTurn`.
        name: The node's run name.
    """
    if mode not in ("proactive", "lookahead"):
        raise ValueError(f"mode must be 'proactive' or 'lookahead', not {mode!r}")
    if candidates < 1 or samples < 1 or window < 0:
        raise ValueError("need candidates >= 1, samples >= 1 and window >= 0")
    graph = as_graph(agent)
    human = isinstance(user, str) and user == HUMAN
    limits = budget if isinstance(budget, Budget) else Budget(**(budget or {}))
    if mode == "proactive" and system_prompt is None:
        system_prompt = proactive_prompt()
    mixed = proactive_prompt() if proactive else None  # read once, not on the event loop
    user_role = judge_role = None
    if mode == "lookahead":
        default = agent if isinstance(agent, BaseChatModel | str) else None
        user = default if user is None else user
        judge = judge or (default if human else user)
        if user is None or judge is None:
            raise ValueError(
                "lookahead mode needs user= and judge= (chat models or specs) when the agent "
                "is not a chat model"
            )
        user_role = None if human else create_simulated_user(user)
        judge_role = create_judge(judge)
    options = {"samples": 1 if human else samples, "window": 1 if human else window}
    extra = {"metrics": metrics, "weights": weights, "token_lambda": token_lambda}
    options |= {key: value for key, value in extra.items() if value is not None}

    def inputs(state: dict, prompt: str | None) -> dict:
        values = {k: v for k, v in state.items() if k != state_key}
        messages = list(values.get("messages") or [])
        if prompt:
            messages = [SystemMessage(prompt, id=f"collab-system-{uuid.uuid4().hex}"), *messages]
        return {**values, "messages": messages}

    def new_messages(values: dict, out: dict) -> list[BaseMessage]:
        seen = {m.id for m in values["messages"]}
        return [m for m in out.get("messages", []) if m.id is None or m.id not in seen]

    async def sample(state: dict, host: RunnableConfig, forks: Forks, n: int) -> dict:
        async def one(k: int) -> dict | None:
            prompt = mixed if mixed and k % 2 == 1 else system_prompt
            values = inputs(state, prompt)
            added = new_messages(values, await forks.candidate(k, values, host))
            final = [m for m in added if isinstance(m, AIMessage) and m.text.strip()]
            return {"messages": added, "text": final[-1].text} if final else None

        kept = await gather_kept([one(k) for k in range(n)])
        values = {f"c{k}": forks.values[f"c{k}"] for k, _ in kept} if forks.saver is None else {}
        found = [c for _, c in kept]
        keys = [k for k, _ in kept]
        return {"prefix": forks.prefix, "n": n, "keys": keys, "values": values, "candidates": found}

    def sample_sync(state: dict, host: RunnableConfig, forks: Forks, n: int) -> dict:
        return run_sync(sample(state, host, forks, n))

    durable_sample = durable_task(name="collab_candidates")(sample)
    durable_sample_sync = durable_task(name="collab_candidates")(sample_sync)

    def ask_human(forks: Forks, found: dict) -> list[str]:
        texts = [c["text"] for c in found["candidates"]]
        payload = {"kind": "collab_user_turn", "instructions": HUMAN_INSTRUCTIONS}
        try:
            answer = interrupt({**payload, "candidates": texts})
        except GraphBubbleUp:
            forks.kept = True  # the forks wait for the resume
            raise
        if isinstance(answer, Mapping):
            answer = [answer.get(str(i), answer.get(i)) for i in range(len(texts))]
        if not isinstance(answer, list | tuple) or len(answer) != len(texts):
            raise ValueError(f"Resume with one user message per candidate ({len(texts)})")
        if not all(isinstance(reply, str) and reply.strip() for reply in answer):
            raise ValueError("Each user message must be a non-empty string")
        return list(answer)

    async def score(
        state: dict, config: RunnableConfig, forks: Forks, found: dict, replies: list | None
    ) -> list[MultiturnReward | None]:
        history = list(state["messages"])
        goal = task(state) if callable(task) else task
        goal = goal or (state.get("task") if isinstance(state.get("task"), Task) else None)
        goal = goal or conversation_task(history)

        async def one(i: int, k: int, text: str) -> MultiturnReward:
            async def future_turn(messages: list, config: RunnableConfig) -> dict:
                s = config.get("metadata", {}).get("sample_index", 0)
                return await forks.turn(k, s, HumanMessage(messages[-1].text), config)

            role = create_simulated_user(lambda _: replies[i]) if replies else user_role
            run = detached(config, metadata={"collab_candidate": k}, name=f"reward_{k}")
            rewards = await ascore_candidates(
                history,
                [AIMessage(text)],
                task=goal,
                user=role,
                judge=judge_role,
                assistant=RunnableLambda(future_turn, name="agent"),
                config=run,
                max_concurrency=max_concurrency,
                **options,
            )
            return rewards[0]

        pairs = zip(found["keys"], found["candidates"], strict=True)
        jobs = [one(i, k, candidate["text"]) for i, (k, candidate) in enumerate(pairs)]
        return await forks.gate.within(jobs)

    async def choose(
        config: RunnableConfig, forks: Forks, found: dict, rewards: list, replies: list | None
    ) -> dict:
        """The best candidate (the first when none is scored), recorded and traced."""
        scores = [r.mean if r else None for r in rewards]
        ranked = [i for i, score in enumerate(scores) if score is not None]
        best = max(ranked, key=lambda i: scores[i]) if ranked else 0
        calls, tokens = forks.gate.spent()
        record: CollabTurn = {
            "mode": "lookahead",
            "user": HUMAN if human else "simulated",
            "candidates": [c["text"] for c in found["candidates"]],
            "scores": scores,
            "stderr": [r.stderr if r else None for r in rewards],
            "components": [r.components if r else {} for r in rewards],
            "n_failed": [r.n_failed if r else 0 for r in rewards],
            "rejected": [dict(r.fidelity.rejected) if r else {} for r in rewards],
            "chosen": best,
            "forks": forks.mode,
            "calls": calls,
            "tokens": tokens,
            "seconds": round(time.monotonic() - forks.gate.start, 3),
            "budget_exhausted": forks.gate.exhausted,
        }
        if replies:
            record["replies"] = replies
        if keep_forks:
            record["fork_threads"] = list(forks.threads)
        if len(rewards) == 1 and rewards[0] is None and not forks.gate.enforce:
            record["note"] = NO_LOOKAHEAD
        choice = RunnableLambda(lambda r: {"chosen": r["chosen"]}, name="collab_choice")
        meta = {"collab_scores": scores, "collab_chosen": best}
        await choice.ainvoke(record, detached(config, metadata=meta))
        return {"messages": found["candidates"][best]["messages"], state_key: record}

    async def finish(
        state: dict, config: RunnableConfig, forks: Forks, found: dict, replies: list | None
    ) -> dict:
        forks.restore(found)
        if not ends_with_user(state):
            return await choose(config, forks, found, [None], None)
        forks.gate.enforce = True
        rewards = await score(state, config, forks, found, replies)
        return await choose(config, forks, found, rewards, replies)

    def ends_with_user(state: dict) -> bool:
        messages = state.get("messages") or []
        return bool(messages) and isinstance(messages[-1], HumanMessage)

    def open_turn(state: dict, config: RunnableConfig, sync: bool) -> tuple:
        forks = Forks(graph, config, fork=fork, gate=Gate(limits), sync=sync)
        if human and forks.saver is None:
            raise ValueError("user='human' needs a checkpointer on the host graph (interrupt)")
        n = candidates if ends_with_user(state) else 1
        return forks, with_handler(config, forks.gate), n

    def run_blocking(state: dict, config: RunnableConfig) -> dict:
        if mode == "proactive":
            values = inputs(state, system_prompt)
            return {"messages": new_messages(values, graph.invoke(values, config))}
        forks, config, n = open_turn(state, config, sync=True)
        try:  # the durable task and interrupt() run in the node's own thread
            if not human:
                found = run_sync(sample(state, config, forks, n))
                return run_sync(finish(state, config, forks, found, None))
            found = durable_sample_sync(state, config, forks, n).result()
            forks.restore(found)
            replies = ask_human(forks, found) if ends_with_user(state) else None
            return run_sync(finish(state, config, forks, found, replies))
        finally:
            run_sync(forks.close(keep_forks))

    async def run_async(state: dict, config: RunnableConfig) -> dict:
        if mode == "proactive":
            values = inputs(state, system_prompt)
            return {"messages": new_messages(values, await graph.ainvoke(values, config))}
        forks, config, n = open_turn(state, config, sync=False)
        try:
            sampler = durable_sample if human else sample
            found = await sampler(state, config, forks, n)
            forks.restore(found)
            replies = ask_human(forks, found) if human and ends_with_user(state) else None
            return await finish(state, config, forks, found, replies)
        finally:
            await forks.close(keep_forks)

    return RunnableLambda(run_blocking, afunc=run_async, name=name)
