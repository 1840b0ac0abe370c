"""The embedded runtime is portable: llama.cpp built without native flags (no AMX, no
AVX-512), weights kept out of the extra (AMX / repacked) buffers, and a multi-token chat
completion works. The completion runs in a child process, so a crash fails one test
instead of killing pytest."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("llama_cpp")

CHILD = textwrap.dedent(
    """
    import json, sys
    from langgraph_collab.roles.local import load_local_model, runtime_info
    model = load_local_model(max_tokens=24, seed=0, n_ctx=1024, verbose=True)
    reply = model.invoke([("system", "You are terse."),
                          ("user", "Name three colours of the rainbow, please.")])
    print(json.dumps({"text": reply.content, "usage": reply.usage_metadata,
                      "info": runtime_info()}))
    """
)


@pytest.fixture(scope="module")
def child_run():
    from langgraph_collab.roles.local import embedded_model_path

    try:
        embedded_model_path()
    except (ModuleNotFoundError, FileNotFoundError) as missing:
        pytest.skip(str(missing))
    return subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=600
    )


def test_the_installed_llama_cpp_has_no_amx_or_avx512_code():
    from langgraph_collab.roles.local import runtime_info

    info = runtime_info()
    assert not info["amx"], info["system_info"]
    assert not info["avx512"], info["system_info"]


@pytest.mark.integration
def test_a_multi_token_chat_completion_succeeds_in_a_child_process(child_run):
    assert child_run.returncode == 0, (child_run.returncode, child_run.stderr[-3000:])
    result = json.loads(child_run.stdout.strip().splitlines()[-1])
    assert result["usage"]["input_tokens"] > 10 and result["usage"]["output_tokens"] > 1
    assert result["text"].strip()


@pytest.mark.integration
def test_weights_stay_out_of_amx_and_repacked_buffers(child_run):
    load_log = [line for line in child_run.stderr.splitlines() if "buffer size" in line]
    assert load_log, child_run.stderr[-3000:]  # llama.cpp did report its buffers
    assert not [line for line in load_log if "AMX" in line or "REPACK" in line], load_log
