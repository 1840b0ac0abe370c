from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph

from langgraph_collab.collection.export import dpo_dataset
from langgraph_collab.collection.rescoring import (
    RunRecorder,
    read_recorded_runs,
    records_from_runs,
    rescore,
)
from tests.conftest import make_assistant, make_judge, make_user


def production_agent():
    """A stand-in for a deployed agent: answers every user message."""

    def agent(state: MessagesState) -> dict:
        return {"messages": [AIMessage(f"Answer to: {state['messages'][-1].content}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", END)
    return builder.compile(name="production_agent")


def test_the_recorder_captures_conversations_and_they_become_records(tmp_path):
    recorder = RunRecorder(path=tmp_path / "runs.jsonl")
    agent = production_agent()
    config = {"callbacks": [recorder], "metadata": {"task_kind": "chat"}}
    first = agent.invoke({"messages": [HumanMessage("Plan a trip")]}, config)
    agent.invoke({"messages": [*first["messages"], HumanMessage("To Lisbon, 3 days")]}, config)
    assert len(recorder.runs) == 2  # root runs only
    for runs in (recorder.runs, read_recorded_runs(tmp_path / "runs.jsonl")):
        records = records_from_runs(runs)
        assert [len(r.messages) for r in records] == [2, 4]
        assert records[1].messages[-1] == {
            "role": "assistant",
            "content": "Answer to: To Lisbon, 3 days",
        }
        assert records[1].task.request == "Plan a trip\nTo Lisbon, 3 days"
        assert records[1].source == "recorder"


def test_rescoring_resamples_each_turn_and_feeds_dpo():
    recorder = RunRecorder()
    agent = production_agent()
    first = agent.invoke({"messages": [HumanMessage("Plan a trip")]}, {"callbacks": [recorder]})
    agent.invoke(
        {"messages": [*first["messages"], HumanMessage("To Lisbon")]}, {"callbacks": [recorder]}
    )
    (record,) = records_from_runs(recorder.runs[1:])
    (scored,) = rescore(
        [record],
        user=make_user(stop_after=1),
        assistant=make_assistant(),
        judge=make_judge(),
        candidates=2,
        samples=2,
        window=1,
    )
    assert [t.turn for t in scored.turns] == [0, 1]
    turn = scored.turns[1]
    assert turn.prompt == record.messages[:3]
    assert turn.candidates[0].content == "Answer to: To Lisbon"  # the real reply is a candidate
    assert len(turn.candidates) == 3 and all(c.mr is not None for c in turn.candidates)
    assert turn.candidates[turn.chosen].mr == max(c.mr for c in turn.candidates)
    pairs = dpo_dataset([scored], min_gap=0.0)
    assert len(pairs) >= 1 and pairs[0]["prompt"][0]["content"] == "Plan a trip"
