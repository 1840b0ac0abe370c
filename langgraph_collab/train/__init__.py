"""Training: ``python -m langgraph_collab.train`` (collect -> export -> train -> evaluate ->
report), configured by :class:`CollabTrainConfig` from YAML and CLI flags alike.

Importing this package imports no torch, transformers or trl; the trainer node
(:mod:`langgraph_collab.train.trainers`) imports them when it runs.

Example:
    >>> from langgraph_collab.train import load_config
    >>> load_config(["--method", "grpo", "--max-steps", "4"]).method
    'grpo'
"""

from langgraph_collab.train.config import CollabTrainConfig, ConfigError, load_config

__all__ = ["CollabTrainConfig", "ConfigError", "load_config"]
