"""The README and the guides under docs/ show code that works with the current API: every
import in their Python blocks resolves, and the README's blocks run as written, with a
scripted model in place of the API model."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import langchain.chat_models
import pytest
from langgraph.graph import START, StateGraph

import langgraph_collab
from langgraph_collab.agents.node import CollaborativeState
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import judge_json

ROOT = Path(__file__).resolve().parents[1]
GUIDES = [  # docs/ARCHITECTURE.md is the map of the code, not a guide with examples
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "ARCHITECTURE.md"),
]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
IMPORT = re.compile(r"^(?:from \S+ import (?:\([^)]*\)|.*)|import .*)$", re.MULTILINE)


def python_blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", GUIDES, ids=lambda path: path.name)
def test_every_import_in_a_guide_resolves(path):
    statements = [s for block in python_blocks(path) for s in IMPORT.findall(block)]
    for statement in statements:
        exec(statement, {})  # an ImportError names the statement's module and name


def scripted_model(messages) -> str:
    """The judge's verdict when asked to judge, else a user's or an assistant's turn (the
    user's second turn ends the chat)."""
    if "interactiv" in (messages[0].text.lower() if messages else ""):
        return judge_json(artifact="1/6", grade="A", correct=True)
    if len(messages) > 3:
        return "Thanks, that helps. [[TERMINATE CHAT]]"
    return "What do you mean exactly?"


def test_the_readme_blocks_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        langchain.chat_models, "init_chat_model",
        lambda *args, **kwargs: ScriptedChatModel(script=scripted_model),
    )  # fmt: skip
    load_tasks = langgraph_collab.load_tasks
    monkeypatch.setattr(langgraph_collab, "load_tasks", lambda *a, **k: load_tasks(*a, **k)[:1])
    namespace: dict = {}
    blocks = python_blocks(ROOT / "README.md")
    assert len(blocks) == 3  # scoring, collecting and exporting, the agent
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert [r.n_valid for r in namespace["rewards"]] == [3, 3]
    assert namespace["read_records"]("runs/math/records.jsonl")[0].turns
    assert (tmp_path / "runs/math/datasets/dpo.jsonl").is_file()
    out = namespace["agent"].invoke({"messages": [("user", "Book me a flight")]})
    assert len(out["collab"]["candidates"]) == 3 and out["messages"][-1].content
    graph = StateGraph(CollaborativeState).add_node("agent", namespace["node"])
    graph = graph.add_edge(START, "agent").compile()
    out = graph.invoke({"messages": [("user", "Book me a flight")]})
    assert len(out["collab"]["candidates"]) == 3 and out["messages"][-1].content


def test_the_modules_the_guides_name_exist():
    names = set()
    for path in GUIDES:
        names |= set(re.findall(r"langgraph_collab(?:\.[a-z_]+)+", path.read_text("utf-8")))
    for name in sorted(names):
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            try:
                found = importlib.import_module(".".join(parts[:end]))
            except ModuleNotFoundError:
                continue
            for attribute in parts[end:]:
                assert hasattr(found, attribute), f"{name}: no {attribute!r}"
                found = getattr(found, attribute)
            break
