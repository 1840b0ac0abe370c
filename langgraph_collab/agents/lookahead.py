"""The lookahead engine shared by the collaborative node and the collaborative middleware:
the simulated (or human) user and judge, the per-turn budget
(:mod:`langgraph_collab.agents.budget`), MR of each candidate over
futures played by the agent in forks (:mod:`langgraph_collab.agents._forks`), and the choice.

The two entrances differ only in where candidates come from: the node runs the whole
agent once per candidate (:meth:`Forks.candidate`), the middleware samples the model
call N times and adopts each response as a fork (:meth:`Forks.adopt`). Both then call
:meth:`Lookahead.decide`. Behaviour is documented in :mod:`langgraph_collab.agents.node` and
:mod:`langgraph_collab.agents.middleware`.

Example:
    >>> from langchain_core.messages import HumanMessage
    >>> conversation_task([HumanMessage("Book me a flight")]).request.splitlines()[-1]
    '- "Book me a flight"'
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.errors import GraphBubbleUp
from langgraph.pregel import Pregel
from langgraph.types import interrupt

from langgraph_collab.agents._forks import Forks, detached
from langgraph_collab.agents.budget import Budget, Gate
from langgraph_collab.agents.contracts import (
    HumanTurnRequest,
    HumanTurnResponse,
    LookaheadOptions,
    LookaheadTurn,
    Sampled,
)
from langgraph_collab.errors import (
    is_budget_cut,
)
from langgraph_collab.reward.score import ascore_candidates
from langgraph_collab.reward.scoring import MultiturnReward
from langgraph_collab.roles.judge import create_judge
from langgraph_collab.roles.user import create_simulated_user
from langgraph_collab.state import TERMINATE, Task
from langgraph_collab.tracing import with_callback

HUMAN = "human"
HUMAN_INSTRUCTIONS = (
    "Play the user: write the message you would send after each candidate reply, one per "
    f"candidate (a list of strings, in order); end with {TERMINATE} if you would stop there."
)
NO_LOOKAHEAD = "the conversation does not end with a user message: no lookahead"


def conversation_task(messages: Sequence[BaseMessage], *, kind: str = "chat") -> Task:
    """The simulated user's goal, built from the conversation: what the user said so far."""
    said = [m.text for m in messages if isinstance(m, HumanMessage) and m.text]
    quoted = "\n".join(f'- "{text}"' for text in said) or '- "(nothing yet)"'
    request = (
        "Continue this conversation as the same user, still wanting what you asked for. "
        f"Your messages so far:\n{quoted}"
    )
    return Task(id="conversation", kind=kind, request=request)


TURN = "collab_lookahead_turn"
"""The ``configurable`` key naming the candidate being scored: a plain string, since run
configs reach checkpoint savers and servers that serialize them."""


@dataclass(frozen=True)
class _Turn:
    """What a candidate's futures need: the forks the agent plays them in, the candidate's
    key, and the human's reply to it (when a person plays the user)."""

    forks: Forks
    key: int
    reply: str | None


def _to_user_turn(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The conversation up to the user's last message: what a candidate answers (the
    agent's tool calls and results of this turn stay in the forks, not in the MR)."""
    last = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
    return list(messages[: last + 1])


class Lookahead:
    """One lookahead (:class:`LookaheadOptions`), run turn by turn: :meth:`open` a turn's
    forks, sample candidates into them (the entrance's job, handing over :class:`Sampled`),
    :meth:`ask_human` when a person plays the user, :meth:`decide`, then close the forks.
    """

    def __init__(self, *, model: Any, options: LookaheadOptions) -> None:
        user, judge, budget = options.user, options.judge, options.budget
        self.options = options
        candidates = options.candidates
        self.candidates = candidates
        self.human = isinstance(user, str) and user == HUMAN
        default = model if isinstance(model, BaseChatModel | str) else None
        user = default if user is None else user
        judge = judge or (default if self.human else user)
        if user is None or judge is None:
            raise ValueError(
                "lookahead mode needs user= and judge= (chat models or specs); only a "
                "collaborative node whose agent is a chat model defaults them to it"
            )
        self.user_role = None if self.human else create_simulated_user(user)
        self.judge_role = create_judge(judge)
        # Built once, each reading its turn from the run config: the same roles every turn
        # let score_candidates reuse its compiled reward graph.
        self.agent = RunnableLambda(self._future_turn, name="agent")
        self.replying = create_simulated_user(RunnableLambda(self._human_reply, name="human"))
        self.scoring: dict[str, _Turn] = {}  # by the TURN name in each candidate's config
        self.budget = budget if isinstance(budget, Budget) else Budget(**(budget or {}))
        self.task, self.fork, self.keep_forks = options.task, options.fork, options.keep_forks
        self.max_concurrency = options.max_concurrency
        human = {"samples": 1, "window": 1}  # one future each: the person's reply
        self.reward = options.reward.with_overrides(**human) if self.human else options.reward

    def open(self, graph: Pregel, config: RunnableConfig, *, sync: bool) -> tuple:
        """``(forks, config)`` for one turn: the config counts every call in the budget."""
        forks = Forks(graph, config, fork=self.fork, gate=Gate(self.budget), sync=sync)
        if self.human and forks.saver is None:
            raise ValueError("user='human' needs a checkpointer on the graph (interrupt)")
        return forks, with_callback(config, forks.gate)

    def ask_human(self, forks: Forks, sampled: Sampled) -> list[str]:
        """Interrupt with the candidates (a :class:`HumanTurnRequest`); the resume value
        (a :class:`HumanTurnResponse`): one user message for each."""
        texts = [c["text"] for c in sampled["candidates"]]
        request = HumanTurnRequest(
            kind="collab_user_turn", instructions=HUMAN_INSTRUCTIONS, candidates=texts
        )
        try:
            answer: HumanTurnResponse = interrupt(request)
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

    def _turn(self, config: RunnableConfig) -> _Turn:
        return self.scoring[config["configurable"][TURN]]

    async def _future_turn(self, messages: list, config: RunnableConfig) -> dict:
        """The agent's reply in a future: played in the candidate's fork."""
        turn, s = self._turn(config), config.get("metadata", {}).get("sample_index", 0)
        return await turn.forks.turn(turn.key, s, HumanMessage(messages[-1].text), config)

    def _human_reply(self, state: dict, config: RunnableConfig) -> str | None:
        """The human's reply to the candidate, as the future's user turn."""
        return self._turn(config).reply

    def goal(self, state: dict) -> Task:
        goal = self.task(state) if callable(self.task) else self.task
        goal = goal or (state.get("task") if isinstance(state.get("task"), Task) else None)
        return goal or conversation_task(list(state["messages"]))

    async def _score(
        self,
        state: dict,
        config: RunnableConfig,
        forks: Forks,
        sampled: Sampled,
        replies: list | None,
    ) -> list[MultiturnReward | None]:
        history, goal = _to_user_turn(state["messages"]), self.goal(state)

        async def one(i: int, k: int, text: str) -> MultiturnReward:
            run = detached(config, metadata={"collab_candidate": k}, name=f"reward_{k}")
            name = uuid.uuid4().hex
            self.scoring[name] = _Turn(forks, k, replies[i] if replies else None)
            run["configurable"] = {**run.get("configurable", {}), TURN: name}
            try:
                rewards = await ascore_candidates(
                    history,
                    [AIMessage(text)],
                    task=goal,
                    user=self.replying if replies else self.user_role,
                    judge=self.judge_role,
                    assistant=self.agent,
                    config=run,
                    max_concurrency=self.max_concurrency,
                    timeout=forks.gate.seconds_left(),
                    options=self.reward,
                )
            finally:
                del self.scoring[name]
            return rewards[0]

        pairs = zip(sampled["keys"], sampled["candidates"], strict=True)
        jobs = [one(i, k, candidate["text"]) for i, (k, candidate) in enumerate(pairs)]
        rewards = await forks.gate.within(jobs)
        cut = (is_budget_cut(s.error) for r in rewards if r for s in r.samples)
        forks.gate.exhausted = forks.gate.exhausted or any(cut)
        return rewards

    async def decide(
        self,
        state: dict,
        config: RunnableConfig,
        forks: Forks,
        sampled: Sampled,
        *,
        replies: list[str] | None = None,
        score: bool = True,
    ) -> tuple[int, LookaheadTurn]:
        """Score the candidates by MR (unless ``score`` is False: the note says why) and
        choose the best (the first when none is scored): ``(index, record)``, traced as
        a ``collab_choice`` run."""
        rewards: list[MultiturnReward | None] = [None] * len(sampled["candidates"])
        if score:
            forks.gate.enforce = True
            rewards = await self._score(state, config, forks, sampled, replies)
        scores = [r.mean if r else None for r in rewards]
        ranked = [i for i, value in enumerate(scores) if value is not None]
        best = max(ranked, key=lambda i: scores[i]) if ranked else 0
        calls, tokens = forks.gate.spent()
        record: LookaheadTurn = {
            "mode": "lookahead",
            "user": HUMAN if self.human else "simulated",
            "candidates": [c["text"] for c in sampled["candidates"]],
            "scores": scores,
            "stderr": [r.stderr if r else None for r in rewards],
            "components": [r.components if r else {} for r in rewards],
            "n_valid": [r.n_valid if r else 0 for r in rewards],
            "n_failed": [r.n_failed if r else 0 for r in rewards],
            "n_gave_up": [r.n_gave_up if r else 0 for r in rewards],
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
        if self.keep_forks:
            record["fork_threads"] = list(forks.threads)
        if not score:
            record["note"] = NO_LOOKAHEAD
        choice = RunnableLambda(lambda r: {"chosen": r["chosen"]}, name="collab_choice")
        meta = {"collab_scores": scores, "collab_chosen": best}
        await choice.ainvoke(record, detached(config, metadata=meta))
        return best, record
