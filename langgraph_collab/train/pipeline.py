"""The pipeline graph of ``python -m langgraph_collab.train``: collect -> export -> train ->
evaluate -> report, checkpointed so that a killed run picks up where it stopped.

Each node is resumable on its own (collection through its own per-task checkpoints,
training from TRL's last checkpoint), and the pipeline's SQLite checkpointer restarts the
node that was running. All outputs live in one run directory::

    runs/<name>/config.yaml      the configuration the run used
    runs/<name>/collect/         records.jsonl, summary.json, checkpoints.sqlite (or one
                                 shard-0000i-of-0000n/ folder of those per shard)
    runs/<name>/datasets/        sft, dpo, prompts (save_to_disk folders and .jsonl)
    runs/<name>/train/           TRL checkpoints, final/ (adapter or model), train_result.json
    runs/<name>/eval/            report.md, report.json, report.png
    runs/<name>/report.md        the one-screen summary

Example:
    >>> from langgraph_collab.train.config import load_config
    >>> from langgraph_collab.train.pipeline import run_pipeline
    >>> run_pipeline(load_config(["--name", "demo"]))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer
from typing_extensions import TypedDict

from langgraph_collab.collection.run_lock import PIPELINE_LOCK, hold_run_lock
from langgraph_collab.collection.sharding import read_shards, shard_dir
from langgraph_collab.collection.storage import check_checkpoint_db, prepare_out_dir
from langgraph_collab.tasks.files import looks_local, source_kind
from langgraph_collab.train.config import STAGES, CollabTrainConfig
from langgraph_collab.train.report import report_text
from langgraph_collab.train.roles import api_key, is_local, role_models, settings, spec_of

STAGE_NOTE = "pipeline stage: "


class PipelineState(TypedDict, total=False):
    """The pipeline's progress: the config it runs and what each stage produced."""

    config: dict[str, Any]
    collected: dict[str, Any]
    exported: dict[str, int]
    trained: dict[str, Any]
    evaluated: dict[str, Any]
    report: str


def _config(state: PipelineState) -> CollabTrainConfig:
    return CollabTrainConfig(**state["config"])


def collect_dir(config: CollabTrainConfig) -> Path:
    """Where this process collects: ``<run>/collect``, or its shard folder there."""
    folder = config.run_dir / "collect"
    return shard_dir(folder, num_shards=config.num_shards, index=config.shard_index)


def outside_pipeline(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a stage's workload outside the pipeline's run context: its own graphs
    (collection, evaluation conversations, MR during GRPO) must not nest as subgraphs of
    the pipeline, whose checkpointer keeps only stage boundaries."""
    return contextvars.Context().run(function, *args, **kwargs)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Mark an exception raised inside with the pipeline stage it belongs to (a note that
    tracebacks show and :func:`failed_stage` reads)."""
    try:
        yield
    except Exception as error:
        note = f"{STAGE_NOTE}{name}"
        if note not in getattr(error, "__notes__", ()):
            error.__notes__ = [*getattr(error, "__notes__", ()), note]
        raise


def failed_stage(error: BaseException) -> str | None:
    """The pipeline stage an exception was raised in, if it went through :func:`stage`.

    Example:
        >>> try:
        ...     with stage("collect"):
        ...         raise ValueError("x")
        ... except ValueError as error:
        ...     failed_stage(error)
        'collect'
    """
    notes = [n for n in getattr(error, "__notes__", ()) if n.startswith(STAGE_NOTE)]
    return notes[-1].removeprefix(STAGE_NOTE) if notes else None


def eval_split(config: CollabTrainConfig) -> str:
    """An ``--eval-tasks`` file is used whole; a bundled set (or ``--tasks``) gives its
    test split."""
    source = config.eval_tasks
    return "all" if source and source_kind(source) == "file" else "test"


def preflight(config: CollabTrainConfig) -> None:
    """Check the inputs each configured stage will read before any model loads: task
    sets, a checkpoint database left by an earlier run, ``--dataset``, the trained model
    an evaluation-only run compares. Errors carry their stage (:func:`failed_stage`)."""
    from langgraph_collab.tasks import load_tasks

    stages = config.stage_list

    def tasks(name: str, **options: Any) -> None:
        if source_kind(name) != "hub":  # a Hub set is read once, by its stage
            load_tasks(name, **options)

    with stage("collect"):
        if "collect" in stages and not config.dataset:
            tasks(config.tasks, split="train", limit=config.train_limit)
            check_checkpoint_db(collect_dir(config) / "checkpoints.sqlite")
    with stage("collect"):
        if "collect" in stages and not config.dataset:
            for role in ("user", "judge", "assistant"):
                if spec_of(role, config) != "policy" and not is_local(spec_of(role, config)):
                    api_key(role, config)  # an unset api_key_env fails here, not mid-run
    with stage("train"):
        dataset = config.dataset
        local = "train" in stages and dataset is not None and looks_local(dataset)
        if local and not Path(dataset).expanduser().exists():
            raise FileNotFoundError(
                f"No dataset at {dataset} (working folder {Path.cwd()}): give an exported "
                "folder, a .jsonl file or a Hub dataset id"
            )
        if "train" in stages:  # TRL's own checks of the whole TRL config, before any work
            from langgraph_collab.train.trl_args import trainer_args

            trainer_args(config, output_dir=config.run_dir / "train")
    with stage("evaluate"):
        if "evaluate" in stages:
            source = config.eval_tasks or config.tasks
            tasks(source, split=eval_split(config), limit=config.eval_limit)
            final = config.run_dir / "train" / "final"
            if "trained" in config.compare_list and "train" not in stages and not final.exists():
                raise FileNotFoundError(
                    f"No trained model at {final} to evaluate: add the train stage, or drop "
                    "'trained' from --compare (e.g. --compare base,proactive)"
                )


def collect_node(state: PipelineState) -> dict:
    from langgraph_collab.collection.collect import collect
    from langgraph_collab.tasks import load_tasks
    from langgraph_collab.train.workers import progress_option

    config = _config(state)
    if "collect" not in config.stage_list or config.dataset:
        return {}
    if config.workers > 1:
        from langgraph_collab.train.workers import run_workers

        return {"collected": run_workers(config)}
    tasks = load_tasks(config.tasks, split="train", limit=config.train_limit)
    models = role_models(config, ["user", "judge", "assistant"])
    user, judge, assistant = models["user"], models["judge"], models["assistant"]
    summary = outside_pipeline(
        collect,
        tasks,
        user=user,
        assistant=assistant,
        judge=judge,
        out_dir=config.run_dir / "collect",
        candidates=config.candidates,
        proactive_share=config.proactive_share,
        options=config.reward_options,
        max_messages=config.max_messages,
        max_concurrent_tasks=config.max_concurrent_tasks,
        max_model_calls=config.max_model_calls,
        num_shards=config.num_shards,
        shard_index=config.shard_index,
        checkpoint_samples=config.checkpoint_samples,
        progress=progress_option(),
    )
    return {"collected": summary.model_dump(mode="json")}


def export_node(state: PipelineState) -> dict:
    from langgraph_collab.collection.export import export_datasets

    config = _config(state)
    if "export" not in config.stage_list or config.dataset:
        return {}
    records = read_shards(config.run_dir / "collect", allow_missing=config.allow_missing_shards)
    datasets = export_datasets(
        records,
        config.run_dir / "datasets",
        min_gap=config.min_gap,
        min_score=config.min_score,
    )
    return {"exported": {name: len(dataset) for name, dataset in datasets.items()}}


DATASET_FOR = {"sft": "sft", "dpo": "dpo", "grpo": "prompts", "online_dpo": "prompts"}


def training_dataset(config: CollabTrainConfig) -> Any:
    """The dataset the configured method trains on: ``--dataset`` (a saved folder, a
    ``.jsonl`` file or a Hub id), else this run's export."""
    import datasets

    source = config.dataset or str(config.run_dir / "datasets" / DATASET_FOR[config.method])
    path = Path(source)
    if path.is_dir():
        return datasets.load_from_disk(str(path))
    if path.suffix == ".jsonl" and path.exists():
        return datasets.load_dataset("json", data_files=str(path), split="train")
    if config.dataset and not looks_local(config.dataset):
        return datasets.load_dataset(source, split="train")
    raise FileNotFoundError(f"No {DATASET_FOR[config.method]} dataset at {path}: run export first")


def train_node(state: PipelineState) -> dict:
    from langgraph_collab.train.rewards import mr_reward_function
    from langgraph_collab.train.trainers import train_policy

    config = _config(state)
    if "train" not in config.stage_list:
        return {}
    reward_funcs = None
    if config.method in ("grpo", "online_dpo"):
        futures = ["future_assistant"] if config.future_assistant != "policy" else []
        models = role_models(config, ["user", "judge", *futures])
        reward_funcs = [
            mr_reward_function(
                user=models["user"],
                judge=models["judge"],
                future_assistant=models.get("future_assistant", "policy"),
                options=config.reward_options.with_overrides(grounded_stop=False, adaptive=None),
                max_concurrency=config.max_model_calls,
            )
        ]
    result = outside_pipeline(
        train_policy,
        config,
        train_dataset=training_dataset(config),
        output_dir=config.run_dir / "train",
        reward_funcs=reward_funcs,
    )
    return {"trained": result.summary()}


def evaluate_node(state: PipelineState) -> dict:
    from langgraph_collab.evaluation.run import evaluate
    from langgraph_collab.roles.assistant import create_assistant
    from langgraph_collab.roles.hf import ChatTransformers
    from langgraph_collab.roles.trainable import load_trainable_model
    from langgraph_collab.tasks import load_tasks

    config = _config(state)
    if "evaluate" not in config.stage_list:
        return {}
    compare = config.compare_list

    def chat(model: Any, tokenizer: Any) -> ChatTransformers:
        max_tokens = settings("policy", config)["max_tokens"]
        return ChatTransformers(model=model, tokenizer=tokenizer, max_tokens=max_tokens)

    assistants: dict[str, Any] = {}
    if {"base", "proactive"} & set(compare):
        base = chat(*load_trainable_model(config.policy))
        if "base" in compare:
            assistants["base"] = base
        if "proactive" in compare:
            assistants["proactive"] = create_assistant(base, proactive=True, name="proactive")
    if "trained" in compare:
        assistants["trained"] = chat(*trained_policy(config))
    models = role_models(config, ["user", "judge"])
    user, judge = models["user"], models["judge"]
    source = config.eval_tasks or config.tasks
    tasks = load_tasks(source, split=eval_split(config), limit=config.eval_limit)
    report = outside_pipeline(
        evaluate,
        tasks,
        assistants=assistants,
        user=user,
        judge=judge,
        max_turns=config.eval_max_turns,
    )
    report.save(config.run_dir / "eval")
    return {"evaluated": {"markdown": report.to_markdown(), "summary": report.summary()}}


def trained_policy(config: CollabTrainConfig) -> tuple[Any, Any]:
    """The trained policy: the base model with the LoRA adapter, or the full model."""
    from langgraph_collab.roles.trainable import load_trainable_model

    final = config.run_dir / "train" / "final"
    if not final.exists():
        raise FileNotFoundError(f"No trained model at {final}: run the train stage first")
    if (final / "adapter_config.json").exists():
        from peft import PeftModel

        model, tokenizer = load_trainable_model(config.policy)
        return PeftModel.from_pretrained(model, str(final)), tokenizer
    return load_trainable_model(str(final))


def report_node(state: PipelineState) -> dict:
    config = _config(state)
    if "report" not in config.stage_list:
        return {}
    text = report_text(config, state)
    (config.run_dir / "report.md").write_text(text, encoding="utf-8")
    return {"report": text}


def create_pipeline_graph(*, checkpointer: Checkpointer = None) -> CompiledStateGraph:
    """The pipeline graph, compiled with ``checkpointer``: ``collect -> export -> train ->
    evaluate -> report``; each node does nothing when its stage is not in
    ``config.stages``. Its builder is ``graph.builder``.

    Example:
        >>> list(create_pipeline_graph().builder.nodes)
        ['collect', 'export', 'train', 'evaluate', 'report']
    """
    builder = StateGraph(PipelineState)
    nodes = [collect_node, export_node, train_node, evaluate_node, report_node]
    previous = START
    for name, node in zip(STAGES, nodes, strict=True):
        builder.add_node(name, _in_stage(name, node))
        builder.add_edge(previous, name)
        previous = name
    builder.add_edge(previous, END)
    return builder.compile(checkpointer=checkpointer, name="pipeline")


def _in_stage(name: str, node: Callable[[PipelineState], dict]) -> Callable:
    @functools.wraps(node)
    def run(state: PipelineState) -> dict:
        with stage(name):
            return node(state)

    return run


def run_pipeline(config: CollabTrainConfig) -> PipelineState:
    """Run (or resume) the pipeline for ``config``; returns the final pipeline state.

    A run interrupted with the same configuration resumes at the node that was running;
    a finished run, or a changed configuration, starts the stages again (each skips the
    work its outputs show as done). Inputs are checked first (:func:`preflight`), so a
    bad task file or output folder fails in seconds, before any model loads. One process
    runs a run folder (or a shard's) at a time: another gets a
    :class:`~langgraph_collab.collection.run_lock.RunLockedError` at once, naming the holder.
    """
    config.validate()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and config.stage_list != ["train"]:
        raise ValueError(
            "Under several processes (accelerate launch) run only the train stage: collect "
            "and export in one process first, then `accelerate launch -m "
            "langgraph_collab.train --stages train ...`"
        )
    # a shard keeps its own pipeline state: shards share the run folder
    directory = prepare_out_dir(config.run_dir if config.num_shards == 1 else collect_dir(config))
    with hold_run_lock(directory, name=PIPELINE_LOCK, what="python -m langgraph_collab.train"):
        return _run_locked(config, directory)


def _run_locked(config: CollabTrainConfig, directory: Path) -> PipelineState:
    """:func:`run_pipeline` while this process holds the run folder's writer lock."""
    check_checkpoint_db(directory / "pipeline.sqlite")
    preflight(config)
    (directory / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
    settings = config.to_dict()
    thread = {"configurable": {"thread_id": "pipeline"}}
    with SqliteSaver.from_conn_string(str(directory / "pipeline.sqlite")) as saver:
        graph = create_pipeline_graph(checkpointer=saver)
        snapshot = graph.get_state(thread)
        resume = bool(snapshot.next) and snapshot.values.get("config") == settings
        return graph.invoke(None if resume else {"config": settings}, thread)
