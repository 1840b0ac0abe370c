"""langgraph-collab: CollabLLM's Multiturn-aware Reward (MR) as LangGraph graphs.

One entry per job: score candidate replies (:func:`score_candidates`), build the reward
graph (:func:`create_reward_graph`), collect scored conversations (:func:`collect`),
export them as TRL datasets (:func:`export_datasets`), evaluate assistants
(:func:`evaluate`), add collaboration to an agent (:func:`create_collaborative_node`,
:class:`CollaborativeMiddleware`), load a model (:func:`load_chat_model`). Everything else
is importable from its own module (``langgraph_collab.reward.metrics``,
``langgraph_collab.collection.records``...); ``docs/ARCHITECTURE.md`` maps them.

Example:
    >>> from langgraph_collab import RewardOptions, Task, score_candidates
    >>> rewards = score_candidates(
    ...     [("user", "What is 2+2?")], ["4", "Do you mean in base 10?"],
    ...     task=Task(request="What is 2+2?", kind="math", reference="4"),
    ...     user=lambda state: "Thanks! [[TERMINATE CHAT]]",
    ...     assistant=lambda messages: "4",
    ...     judge=lambda state: {"artifact": "4", "grade": "A"},
    ...     options=RewardOptions(samples=2, window=1))
    >>> [r.n_valid for r in rewards]
    [2, 2]
"""

from langgraph_collab.agents.contracts import LookaheadOptions
from langgraph_collab.agents.middleware import CollaborativeMiddleware
from langgraph_collab.agents.node import create_collaborative_node
from langgraph_collab.collection.collect import acollect, collect
from langgraph_collab.collection.export import export_datasets
from langgraph_collab.collection.records import read_records
from langgraph_collab.errors import PermanentError, ScoringError, TransientFailure
from langgraph_collab.evaluation.run import aevaluate, evaluate
from langgraph_collab.options_check import OptionError
from langgraph_collab.reward.conversation import create_conversation_graph
from langgraph_collab.reward.graph import create_reward_graph
from langgraph_collab.reward.options import RewardOptions
from langgraph_collab.reward.score import ascore_candidates, score_candidates
from langgraph_collab.reward.scoring import MultiturnReward
from langgraph_collab.roles.assistant import create_assistant
from langgraph_collab.roles.judge import create_judge
from langgraph_collab.roles.models import load_chat_model
from langgraph_collab.roles.user import create_simulated_user
from langgraph_collab.state import Task
from langgraph_collab.tasks import load_tasks

__all__ = [
    "CollaborativeMiddleware",
    "LookaheadOptions",
    "MultiturnReward",
    "OptionError",
    "PermanentError",
    "RewardOptions",
    "ScoringError",
    "Task",
    "TransientFailure",
    "acollect",
    "aevaluate",
    "ascore_candidates",
    "collect",
    "create_assistant",
    "create_collaborative_node",
    "create_conversation_graph",
    "create_judge",
    "create_reward_graph",
    "create_simulated_user",
    "evaluate",
    "export_datasets",
    "load_chat_model",
    "load_tasks",
    "read_records",
    "score_candidates",
]
