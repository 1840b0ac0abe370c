"""langgraph-collab: CollabLLM's Multiturn-aware Reward as LangGraph graphs.

Example:
    >>> from langgraph_collab import Task, multiturn_aware_reward
"""

from langgraph_collab.assistant import create_assistant
from langgraph_collab.conversation import create_conversation_graph
from langgraph_collab.judge import Judgement, create_judge, paper_itr
from langgraph_collab.metrics import METRICS, MetricInput
from langgraph_collab.models import load_chat_model, load_trainable_model
from langgraph_collab.reward import (
    amultiturn_aware_reward,
    ascore_candidates,
    create_reward_graph,
    multiturn_aware_reward,
    score_candidates,
)
from langgraph_collab.scoring import ForwardSample, MultiturnReward
from langgraph_collab.state import TERMINATE, CollabState, Task
from langgraph_collab.tracing import UsageLedger
from langgraph_collab.user import create_simulated_user

__all__ = [
    "METRICS",
    "TERMINATE",
    "CollabState",
    "ForwardSample",
    "Judgement",
    "MetricInput",
    "MultiturnReward",
    "Task",
    "UsageLedger",
    "amultiturn_aware_reward",
    "ascore_candidates",
    "create_assistant",
    "create_conversation_graph",
    "create_judge",
    "create_reward_graph",
    "create_simulated_user",
    "load_chat_model",
    "load_trainable_model",
    "multiturn_aware_reward",
    "paper_itr",
    "score_candidates",
]
