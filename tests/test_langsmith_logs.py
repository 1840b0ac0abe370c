"""``report_to: langsmith`` sends the training logs to LangSmith as one run."""

from __future__ import annotations

import pytest

from langgraph_collab.collection.export import sft_dataset
from langgraph_collab.train.langsmith_logs import without_langsmith
from langgraph_collab.train.trainers import train_policy
from tests.fake_langsmith import FakeLangSmith
from tests.test_fake_langsmith import flush_tracers, no_internet, traced_env  # noqa: F401
from tests.test_trainers import RECORDS, config


def test_langsmith_is_taken_out_of_report_to_for_trl():
    assert without_langsmith({"report_to": ["langsmith"]}) == ({"report_to": "none"}, True)
    assert without_langsmith({"report_to": "tensorboard"}) == ({"report_to": "tensorboard"}, False)
    assert without_langsmith({}) == ({}, False)


@pytest.mark.integration
def test_training_logs_arrive_as_a_langsmith_run(policy_dir, tmp_path, no_internet):  # noqa: F811
    trl = {"report_to": ["langsmith"]}
    with FakeLangSmith() as server, traced_env(server):
        result = train_policy(
            config(method="sft", policy=str(policy_dir), trl=trl, logging_steps=1),
            train_dataset=sft_dataset(RECORDS),
            output_dir=tmp_path,
        )
        flush_tracers()
        (run,) = server.runs_named("train:sft")
    assert result.global_step == 2
    assert run["outputs"]["global_step"] == 2 and "train_loss" in run["outputs"]
    logged = [event for event in run.get("events", []) if event.get("name") == "log"]
    assert len(logged) >= 2 and "loss" in logged[0]["kwargs"]
    assert run["inputs"]["max_steps"] == 2
