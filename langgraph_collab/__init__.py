"""langgraph-collab: CollabLLM's Multiturn-aware Reward as LangGraph graphs.

Example:
    >>> from langgraph_collab import Task, multiturn_aware_reward
"""

from langgraph_collab.adaptive import AdaptiveSampling
from langgraph_collab.assistant import create_assistant
from langgraph_collab.cache import CallCacheFileError, cached, create_call_cache
from langgraph_collab.collect import acollect, collect
from langgraph_collab.collection_graph import create_collection_graph
from langgraph_collab.conversation import create_conversation_graph
from langgraph_collab.errors import (
    Backoff,
    MalformedReply,
    PermanentError,
    ScoringError,
    TransientFailure,
)
from langgraph_collab.evaluate import EvaluationReport, aevaluate, baseline_assistants, evaluate
from langgraph_collab.export import (
    collabllm_rows,
    dpo_dataset,
    export_datasets,
    prompt_dataset,
    records_from_collabllm,
    sft_dataset,
)
from langgraph_collab.judge import Judgement, create_judge, paper_itr
from langgraph_collab.metrics import METRICS, MetricInput
from langgraph_collab.middleware import CollaborativeMiddleware
from langgraph_collab.models import load_chat_model, load_trainable_model
from langgraph_collab.node import (
    Budget,
    CollaborativeState,
    LookaheadTurn,
    create_collaborative_node,
)
from langgraph_collab.options_check import OptionError
from langgraph_collab.records import ConversationRecord, read_records, repair_records
from langgraph_collab.rescoring import (
    RunRecorder,
    arescore,
    records_from_runs,
    rescore,
    runs_from_langsmith,
)
from langgraph_collab.reward import (
    amultiturn_aware_reward,
    ascore_candidates,
    create_reward_graph,
    multiturn_aware_reward,
    score_candidates,
)
from langgraph_collab.run_lock import RunLockedError
from langgraph_collab.scoring import ForwardSample, MultiturnReward
from langgraph_collab.state import TERMINATE, ConversationState, Task
from langgraph_collab.tracing import UsageLedger
from langgraph_collab.user import create_simulated_user

__all__ = [
    "METRICS",
    "TERMINATE",
    "AdaptiveSampling",
    "Backoff",
    "Budget",
    "CallCacheFileError",
    "CollaborativeMiddleware",
    "CollaborativeState",
    "ConversationRecord",
    "ConversationState",
    "EvaluationReport",
    "ForwardSample",
    "Judgement",
    "LookaheadTurn",
    "MalformedReply",
    "MetricInput",
    "MultiturnReward",
    "OptionError",
    "PermanentError",
    "RunLockedError",
    "RunRecorder",
    "ScoringError",
    "Task",
    "TransientFailure",
    "UsageLedger",
    "acollect",
    "aevaluate",
    "amultiturn_aware_reward",
    "arescore",
    "ascore_candidates",
    "baseline_assistants",
    "cached",
    "collabllm_rows",
    "collect",
    "create_assistant",
    "create_call_cache",
    "create_collaborative_node",
    "create_collection_graph",
    "create_conversation_graph",
    "create_judge",
    "create_reward_graph",
    "create_simulated_user",
    "dpo_dataset",
    "evaluate",
    "export_datasets",
    "load_chat_model",
    "load_trainable_model",
    "multiturn_aware_reward",
    "paper_itr",
    "prompt_dataset",
    "read_records",
    "records_from_collabllm",
    "records_from_runs",
    "repair_records",
    "rescore",
    "runs_from_langsmith",
    "score_candidates",
    "sft_dataset",
]
