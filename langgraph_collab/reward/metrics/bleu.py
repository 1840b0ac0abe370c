"""BLEU of the extracted document against the target document (sacrebleu), in [0, 1].

The paper reports it x100 (MediumDocEdit-Chat: 32.2 for the base model).

Example:
    >>> from langgraph_collab import Task
    >>> from langgraph_collab.roles.judge import Judgement
    >>> from langgraph_collab.reward.metrics.base import MetricInput
    >>> task = Task(kind="document", request="x", reference="the cat sat on the mat")
    >>> bleu(MetricInput(task, [], [], Judgement(artifact="the cat sat on the mat")))
    1.0
"""

from __future__ import annotations

from langgraph_collab.reward.metrics.base import MetricError, MetricInput


def bleu(sample: MetricInput) -> float:
    """Sentence BLEU (sacrebleu defaults) of the artifact against ``task.reference``."""
    import sacrebleu

    if not sample.task.reference:
        raise MetricError(f"task {sample.task.id!r} has no target document")
    if not sample.artifact.strip():
        return 0.0
    score = sacrebleu.sentence_bleu(sample.artifact, [sample.task.reference]).score / 100
    return round(min(1.0, max(0.0, score)), 6)
