"""Every example runs offline on the embedded model (with its small settings)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, *args: str, cwd: Path) -> str:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out.stdout


def test_score_replies(tmp_path):
    out = run_example("score_replies.py", "--samples", "1", "--window", "1", cwd=tmp_path)
    assert "Best reply:" in out and "accuracy" in out


def test_simulate_conversation(tmp_path):
    out = run_example("simulate_conversation.py", "--turns", "1", "--kind", "math", cwd=tmp_path)
    assert out.startswith("Hidden goal:") and "assistant turns;" in out
    # The 135M simulated user either holds a conversation or is stopped by the fidelity guard,
    # and the example says which.
    assert ("USER:" in out and "ASSISTANT:" in out) or "simulated_user: fidelity:" in out


def test_collect_and_export(tmp_path):
    out = run_example(
        "collect_and_export.py", "--fast", "--limit", "1", "--out", str(tmp_path / "run"),
        cwd=tmp_path,
    )  # fmt: skip
    assert "1 new records" in out and (tmp_path / "run" / "datasets" / "dpo").is_dir()


def test_evaluate_models(tmp_path):
    out = run_example(
        "evaluate_models.py", "--tasks", "math", "--limit", "1", "--turns", "1",
        "--out", str(tmp_path / "eval"), cwd=tmp_path,
    )  # fmt: skip
    assert "| base |" in out and (tmp_path / "eval" / "report.png").is_file()


def test_train_with_config(tmp_path):
    out = run_example(
        "train_with_config.py", "--fast", "--output-dir", str(tmp_path / "runs"), cwd=tmp_path
    )
    assert (
        "train:" in out and (tmp_path / "runs" / "demo-dpo-math" / "eval" / "report.md").is_file()
    )
