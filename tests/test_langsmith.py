"""Collection traced to LangSmith, feedback on candidate runs, and reading traces back.

The real langsmith SDK talks to ``tests.fake_langsmith`` on loopback (no SDK mocks).
"""

import warnings

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.tracers.langchain import wait_for_all_tracers

from langgraph_collab.collection.export import dpo_dataset
from langgraph_collab.collection.records import read_records
from langgraph_collab.collection.rescoring import records_from_runs, rescore, runs_from_langsmith
from tests.conftest import collect_scripted, make_assistant, make_judge, make_user
from tests.fake_langsmith import FakeLangSmith
from tests.test_fake_langsmith import PROJECT, no_internet, traced_env  # noqa: F401
from tests.test_rescoring import production_agent

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def server(no_internet):  # noqa: F811
    with FakeLangSmith() as srv, traced_env(srv):
        yield srv


def collect_two_turns(tmp_path):
    return collect_scripted(tmp_path, user=make_user(stop_after=2), samples=2)


def test_a_collection_is_one_readable_trace_with_mr_feedback_on_candidates(server, tmp_path):
    collect_two_turns(tmp_path)
    wait_for_all_tracers()
    server.client().flush(timeout=5)
    runs = list(server.runs.values())
    names = {run["name"] for run in runs}
    assert {"collection", "propose", "choose", "assistant", "simulated_user", "judge"} <= names
    assert "multiturn_aware_reward" in names and "sample" in names
    (root,) = [run for run in runs if run["is_root"]]
    assert root["name"] == "collection"
    metadata = [run["extra"].get("metadata", {}) for run in runs]
    assert any({"task_id", "turn", "candidate_index", "sample_index"} <= set(m) for m in metadata)

    (record,) = read_records(tmp_path / "records.jsonl")
    candidate_runs = {c.run_id: c for turn in record.turns for c in turn.candidates}
    by_run = {}
    wait_for_all_tracers()
    assert server.wait_for(lambda: len(server.feedback) >= 4 * len(candidate_runs), 5)
    for item in server.feedback:
        by_run.setdefault(str(item["run_id"]), {})[item["key"]] = item["score"]
    assert set(by_run) == set(candidate_runs)
    for run_id, candidate in candidate_runs.items():
        assert by_run[run_id]["multiturn_aware_reward"] == pytest.approx(candidate.mr)
        assert by_run[run_id]["mr.interactivity"] == pytest.approx(
            candidate.components["interactivity"]
        )
        assert server.runs[run_id]["name"] == "assistant"  # the run that generated the reply


def test_traced_production_conversations_are_read_back_rescored_and_exported(server):
    agent = production_agent()
    first = agent.invoke({"messages": [HumanMessage("Plan a trip")]})
    agent.invoke({"messages": [*first["messages"], HumanMessage("To Lisbon")]})
    wait_for_all_tracers()
    runs = runs_from_langsmith(PROJECT, client=server.client())
    records = records_from_runs(runs)
    assert sorted(len(r.messages) for r in records) == [2, 4]
    assert all(r.source == "langsmith" for r in records)
    scored = rescore(
        records,
        user=make_user(stop_after=1),
        assistant=make_assistant(),
        judge=make_judge(),
        candidates=1,
        samples=1,
        window=1,
    )
    assert sum(len(r.turns) for r in scored) == 3
    assert len(dpo_dataset(scored, min_gap=0.0)) >= 1


def test_with_the_endpoint_down_collection_goes_on_with_one_warning(server, tmp_path):
    server.set_down()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = collect_two_turns(tmp_path)
    assert summary.recorded == 1 and summary.failed == 0
    ours = [w for w in caught if "LangSmith" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in ours]
