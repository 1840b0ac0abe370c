"""The collection graph: one task's conversation, with MR-chosen replies, as a LangGraph graph.

Per task, the simulated user opens; at every assistant turn N candidate replies are sampled
(a share of them with the proactive prompt, as in the paper), each is scored by MR, the
conversation continues with the best, and the next user message comes from the winner's
best forward sample. It stops on ``[[TERMINATE CHAT]]``, when the goal is met (grounded
stop) or at the message budget. :func:`~langgraph_collab.collection.collect.collect` runs it
durably, one checkpointed thread per task.

Example:
    >>> from langgraph_collab.collection.graph import create_collection_graph
    >>> graph = create_collection_graph(user=lambda s: "hi", assistant=lambda m: "ok",
    ...                                 judge=lambda s: {"artifact": "ok", "grade": "A"})
    >>> sorted(graph.builder.nodes)
    ['choose', 'propose', 'record', 'simulated_user']
"""

from __future__ import annotations

import asyncio
import operator
import uuid
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer
from langsmith.run_helpers import get_current_run_tree
from typing_extensions import TypedDict

from langgraph_collab.collection.records import (
    CandidateRecord,
    ConversationRecord,
    TurnRecord,
)
from langgraph_collab.errors import (
    ScoringError,
    TransientFailure,
)
from langgraph_collab.reward.fidelity import auser_turn, resolve_guard
from langgraph_collab.reward.graph import create_reward_graph
from langgraph_collab.reward.options import RewardOptions
from langgraph_collab.reward.scoring import MultiturnReward, best_index
from langgraph_collab.reward.stopping import goal_met
from langgraph_collab.roles.assistant import AssistantLike, create_assistant
from langgraph_collab.roles.judge import JudgeLike
from langgraph_collab.roles.user import UserLike, create_simulated_user, is_terminal
from langgraph_collab.sandbox import containment_info
from langgraph_collab.state import FidelityCounts, StopReason, Task, add_fidelity, to_dicts
from langgraph_collab.tracing import (
    FeedbackSender,
    RoleUsage,
    UsageLedger,
    with_callback,
)

DEFAULT_MAX_MESSAGES = 14


def add_usage(left: dict[str, RoleUsage], right: dict[str, RoleUsage]) -> dict[str, RoleUsage]:
    """Reducer: usage per role, summed (each node adds what it spent to the thread's total).

    Example:
        >>> total = add_usage({"judge": RoleUsage(calls=2)},
        ...                   {"judge": RoleUsage(calls=1), "assistant": RoleUsage(calls=3)})
        >>> sorted((role, usage.calls) for role, usage in total.items())
        [('assistant', 3), ('judge', 3)]
    """
    roles = {*left, *right}
    return {role: left.get(role, RoleUsage()) + right.get(role, RoleUsage()) for role in roles}


class CollectionState(TypedDict, total=False):
    """One task's collection thread: the chosen path, the turn records, the candidates
    awaiting their scores, the stop flag and the model usage so far (checkpointed with
    the rest, so it survives a kill).

    Example:
        >>> graph = create_collection_graph(user=lambda state: "Hi", assistant=lambda m: "4",
        ...                                 judge=lambda state: {"artifact": "4", "grade": "A"})
        >>> graph.builder.state_schema is CollectionState
        True
    """

    task: Task
    messages: Annotated[list[AnyMessage], add_messages]
    candidates: list[CandidateRecord]
    turns: Annotated[list[TurnRecord], operator.add]
    usage: Annotated[dict[str, RoleUsage], add_usage]
    fidelity: Annotated[FidelityCounts, add_fidelity]
    done: bool
    failure: str | None
    stop_reason: StopReason | None
    record: ConversationRecord


def next_user_message(reward: MultiturnReward) -> HumanMessage | None:
    """The user's reply in the winner's best valid forward sample, if it has one: the
    conversation goes on as the best future the MR saw.

    Example:
        >>> from langchain_core.messages import AIMessage
        >>> from langgraph_collab.reward.scoring import ForwardSample, aggregate
        >>> futures = [ForwardSample(candidate_index=0, sample_index=s, reward=r,
        ...                          future=[HumanMessage(text)])
        ...            for s, (r, text) in enumerate([(0.2, "No."), (0.9, "Two dice.")])]
        >>> next_user_message(aggregate(AIMessage("Which dice?"), futures)).content
        'Two dice.'
    """
    valid = sorted((s for s in reward.samples if s.reward is not None), key=lambda s: -s.reward)
    for sample in valid:
        if sample.future and isinstance(sample.future[0], HumanMessage):
            return HumanMessage(sample.future[0].text)
    return None


COLLECTION_DEFAULTS = {"grounded_stop": True}
"""Collection's own MR defaults, used when no ``options`` are given: a conversation, and
each of its futures, ends once the task's goal is met."""


def create_collection_graph(
    *,
    user: UserLike,
    assistant: AssistantLike,
    judge: JudgeLike,
    options: RewardOptions | None = None,
    candidates: int = 3,
    proactive_share: float = 0.5,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    checkpoint_samples: bool = False,
    checkpointer: Checkpointer = None,
    **overrides: Any,
) -> CompiledStateGraph:
    """The per-task collection graph, compiled with ``checkpointer``: ``simulated_user -> propose ->
    choose -> ... -> record``; ``record`` puts the :class:`ConversationRecord` in state
    (:func:`acollect` appends it to ``records.jsonl``). Each node adds the tokens and calls
    it spent to ``usage`` in state. A failure that outlived its retries raises out of the
    node, so the thread stays resumable at that step. ``fidelity`` guards every simulated
    user turn, the opening and the futures' (a user that cannot write a faithful opening
    ends the conversation, recorded with its ``failure``; so does a turn where no candidate
    has a finite MR: nothing to choose by, so that turn is not recorded and the summary
    counts the failure). ``options`` are the MR's
    (:class:`~langgraph_collab.reward.options.RewardOptions`, keywords naming its fields
    override it); collection's default turns ``grounded_stop`` on, which ends the
    conversation, and the futures, once the task's goal is met. ``checkpoint_samples``
    checkpoints the forward samples and their futures too, so that a resumed turn redoes
    only the samples that had not finished; off, a resumed turn redoes all of them and
    they write nothing (``benchmarks/checkpoint_volume.py`` measures the trade-off). The
    uncompiled graph is its ``builder``.

    Example:
        >>> import asyncio
        >>> from langgraph.checkpoint.memory import InMemorySaver
        >>> from langgraph_collab import Task
        >>> graph = create_collection_graph(
        ...     user=lambda s: "Thanks [[TERMINATE CHAT]]" if s["messages"] else "What is 2+2?",
        ...     assistant=lambda messages: "4",
        ...     judge=lambda state: {"artifact": "4", "grade": "A"},
        ...     candidates=2, samples=1, window=1, checkpointer=InMemorySaver())
        >>> task = Task(kind="math", request="What is 2+2?", reference="4")
        >>> out = asyncio.run(graph.ainvoke({"task": task}, {"configurable": {"thread_id": "1"}}))
        >>> [m["content"] for m in out["record"].messages]
        ['What is 2+2?', '4', 'Thanks [[TERMINATE CHAT]]']
        >>> len(out["record"].turns[0].candidates), sorted(graph.builder.nodes)
        (2, ['choose', 'propose', 'record', 'simulated_user'])
    """
    if candidates < 1:
        raise ValueError(f"candidates must be >= 1, got {candidates}")
    if not 0.0 <= proactive_share <= 1.0:
        raise ValueError(f"proactive_share must be in [0, 1], got {proactive_share}")
    if max_messages < 2:
        raise ValueError(f"max_messages must be >= 2, got {max_messages}")
    if not isinstance(checkpoint_samples, bool):
        raise TypeError(f"checkpoint_samples must be True or False, got {checkpoint_samples!r}")
    user_role = create_simulated_user(user)
    base, proactive = create_assistant(assistant), create_assistant(assistant, proactive=True)
    n_proactive = round(candidates * proactive_share)
    options = RewardOptions.of(options, defaults=COLLECTION_DEFAULTS, **overrides)
    guard = resolve_guard(options.fidelity)
    grounded_stop = options.grounded_stop
    reward = create_reward_graph(
        user=user,
        assistant=assistant,
        judge=judge,
        options=options.with_overrides(fidelity=guard or False),
        checkpointer=None if checkpoint_samples else False,
        subgraph=checkpoint_samples,  # every step of every future checkpointed
    )
    feedback = FeedbackSender()

    def turn_config(
        state: CollectionState, config: RunnableConfig, ledger: UsageLedger, **extra: Any
    ) -> RunnableConfig:
        metadata = {**config.get("metadata", {}), "task_id": state["task"].id}
        metadata["turn"] = len(state.get("turns") or [])
        config = with_callback(config, ledger)
        return {**config, "metadata": {**metadata, **extra}}

    async def simulated_user(state: CollectionState, config: RunnableConfig) -> dict:
        ledger = UsageLedger()
        child = user_role.tagged(turn_config(state, config, ledger))
        turn = await auser_turn(user_role, guard, state, child)
        update = {"usage": ledger.by_role(), "fidelity": turn.counts}
        if turn.message is None:
            return {**update, "done": True, "failure": turn.failure, "stop_reason": "failure"}
        done = is_terminal(turn.message)
        return {**update, "messages": [turn.message], "done": done,
                "stop_reason": "user" if done else None}  # fmt: skip

    async def propose(state: CollectionState, config: RunnableConfig) -> dict:
        ledger = UsageLedger()

        async def one(k: int) -> CandidateRecord | str:
            role = proactive if k < n_proactive else base
            run_id = uuid.uuid4()
            child = {**turn_config(state, config, ledger, candidate_index=k), "run_id": run_id}
            try:
                reply = await role.ainvoke(state, child)
            except TransientFailure as error:  # the other candidates may still do
                return str(error)
            return CandidateRecord(
                content=reply.text, proactive=role is proactive, run_id=str(run_id)
            )

        results = await asyncio.gather(*map(one, range(candidates)))
        drafts = [c for c in results if isinstance(c, CandidateRecord)]
        if not drafts:
            raise ScoringError("assistant: every candidate failed", results)
        return {"candidates": drafts, "usage": ledger.by_role()}

    async def choose_best(state: CollectionState, config: RunnableConfig) -> dict:
        ledger = UsageLedger()
        drafts = state["candidates"]
        inputs = {
            "messages": state["messages"],
            "candidates": [AIMessage(c.content) for c in drafts],
            "task": state["task"],
        }
        child = turn_config(state, config, ledger)
        rewards = (await reward.ainvoke(inputs, child))["rewards"]
        scored = [
            CandidateRecord.from_reward(r, proactive=c.proactive, run_id=c.run_id)
            for r, c in zip(rewards, drafts, strict=True)
        ]
        feedback.send(scored, trace=get_current_run_tree())  # the node's run when traced
        spent = {
            "usage": ledger.by_role(),
            "fidelity": sum((r.fidelity for r in rewards), FidelityCounts()),
        }
        try:
            best = best_index([r.mean for r in rewards])
        except ScoringError as error:  # nothing to choose by: the conversation ends here
            gave_up = sum(r.n_gave_up for r in rewards)
            futures = sum(len(r.samples) for r in rewards)
            failure = f"assistant: {error} ({gave_up} of {futures} futures given up by the guard)"
            return {**spent, "candidates": [], "done": True, "failure": failure,
                    "stop_reason": "failure"}  # fmt: skip
        turn = TurnRecord(
            turn=len(state.get("turns") or []),
            prompt=to_dicts(state["messages"]),
            candidates=scored,
            chosen=best,
        )
        added: list[AnyMessage] = [AIMessage(drafts[best].content)]
        met = grounded_stop and await asyncio.to_thread(
            goal_met, state["task"], [*state["messages"], *added]
        )
        follow = None if met else next_user_message(rewards[best])
        if follow is not None and len(state["messages"]) + 2 <= max_messages:
            added.append(follow)
        stop = (
            "goal_met" if met
            else "user" if follow is not None and is_terminal(follow)
            else "budget" if len(state["messages"]) + len(added) >= max_messages
            else None
        )  # fmt: skip
        return {
            "messages": added,
            "turns": [turn],
            "candidates": [],
            "done": stop is not None,
            "stop_reason": stop,
            **spent,
        }

    def record(state: CollectionState) -> dict:
        done = ConversationRecord(
            task=state["task"],
            messages=to_dicts(state.get("messages") or []),
            turns=state.get("turns") or [],
            usage=state.get("usage") or {},
            failure=state.get("failure"),
            stop_reason=state.get("stop_reason"),
            fidelity=state.get("fidelity") or FidelityCounts(),
            containment=_containment(state["task"]),
        )
        return {"record": done}

    def after_open(state: CollectionState) -> str:
        return "record" if state.get("done") else "propose"

    def after_choose(state: CollectionState) -> str:
        if state.get("done"):
            return "record"
        return "propose" if isinstance(state["messages"][-1], HumanMessage) else "simulated_user"

    def first(state: CollectionState) -> str:
        messages = state.get("messages") or []
        last_is_user = bool(messages) and isinstance(messages[-1], HumanMessage)
        return "propose" if last_is_user else "simulated_user"

    builder = StateGraph(CollectionState)
    builder.add_node("simulated_user", simulated_user)
    builder.add_node("propose", propose)
    builder.add_node("choose", choose_best)
    builder.add_node("record", record)
    builder.add_conditional_edges(START, first, ["simulated_user", "propose"])
    builder.add_conditional_edges("simulated_user", after_open, ["propose", "record"])
    builder.add_edge("propose", "choose")
    builder.add_conditional_edges("choose", after_choose, ["propose", "simulated_user", "record"])
    builder.add_edge("record", END)
    return builder.compile(checkpointer=checkpointer, name="collection")


def _containment(task: Task) -> str | None:
    """The sandbox's containment, for a code task (its pass rate ran there)."""
    return str(containment_info()["containment"]) if task.kind == "code" else None
