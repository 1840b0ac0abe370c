"""The policy learns only its own words: in the batch TRL feeds the model, every token of a
system or user message (the simulated user's ``[[TERMINATE CHAT]]`` among them) has label
-100 and every token of an assistant reply, with the end-of-turn token that closes it, does
not; with a template that has ``{% generation %}`` markers (TRL's assistant-only loss) and
with one that has none (SmolLM2's: one prompt/completion row per reply)."""

from __future__ import annotations

import copy
import json

import pytest

from langgraph_collab.collection.export import dpo_dataset
from langgraph_collab.state import TERMINATE
from langgraph_collab.train.__main__ import main
from langgraph_collab.train.config import CollabTrainConfig
from langgraph_collab.train.loss_mask import sft_training_data, turn_rows
from langgraph_collab.train.trainers import load_policy, train_policy
from tests.test_trainers import RECORDS

SYSTEM = "You are a careful maths tutor."
USERS = ["I need help with a sum.", "It is 2 + 2, please.", f"Thanks! {TERMINATE}"]
REPLIES = ["Which sum would you like to do?", "2 + 2 = 4."]
CONVERSATION = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": USERS[0]},
    {"role": "assistant", "content": REPLIES[0]},
    {"role": "user", "content": USERS[1]},
    {"role": "assistant", "content": REPLIES[1]},
    {"role": "user", "content": USERS[2]},  # the simulated user's stop, kept on purpose
]
# SmolLM2's template (ChatML) with generation markers around each assistant reply and its
# end-of-turn token: what TRL's training templates do for the families it knows.
CHATML_WITH_MARKERS = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant<|im_end|>\n' }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def sft_rows():
    from datasets import Dataset

    return Dataset.from_dict({"messages": [CONVERSATION], "task_id": ["t1"]})


def test_each_reply_becomes_a_prompt_completion_row():
    rows = turn_rows(sft_rows())
    assert rows["completion"] == [[CONVERSATION[2]], [CONVERSATION[4]]]
    assert rows["prompt"] == [CONVERSATION[:2], CONVERSATION[:4]]
    assert rows["task_id"] == ["t1", "t1"] and rows["turn"] == [0, 1]


def test_the_template_decides_the_way(tokenizer):
    data, options = sft_training_data(sft_rows(), tokenizer)  # SmolLM2's: no markers
    assert options == {"completion_only_loss": True} and "completion" in data.column_names
    with_markers = copy.deepcopy(tokenizer)
    with_markers.chat_template = CHATML_WITH_MARKERS
    data, options = sft_training_data(sft_rows(), with_markers)
    assert options == {"assistant_only_loss": True} and "messages" in data.column_names
    from trl.chat_template_utils import qwen2_5_chat_template  # no markers; TRL patches it

    with_markers.chat_template = qwen2_5_chat_template
    assert sft_training_data(sft_rows(), with_markers)[1] == {"assistant_only_loss": True}


# ------------------------------------------------------------------------------ one step


def spans(tokenizer, ids: list[int]) -> list[tuple[int, int]]:
    """The character span of each token in the decoded row."""
    out, end = [], 0
    for index in range(len(ids)):
        text = tokenizer.decode(ids[: index + 1])
        out.append((end, len(text)))
        end = len(text)
    return out


def loss_by_message(tokenizer, batch) -> dict[str, list[list[bool]]]:
    """For each message text, per row where it appears: whether each of its tokens (and,
    for a reply, the end-of-turn token after it) carries loss."""
    found: dict[str, list[list[bool]]] = {}
    rows = zip(batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True)
    for ids, labels, real in rows:
        ids, labels = ids[real.bool()].tolist(), labels[real.bool()].tolist()
        text, places = tokenizer.decode(ids), spans(tokenizer, ids)
        for content in [SYSTEM, *USERS, *REPLIES]:
            start = text.find(content)
            if start < 0:
                continue
            end = start + len(content)
            if content in REPLIES:
                end += len(tokenizer.eos_token)  # the reply's own end-of-turn token
            flags = [label != -100 for (a, b), label in zip(places, labels, strict=True)
                     if a < end and b > start]  # fmt: skip
            found.setdefault(content, []).append(flags)
    return found


def train_one_step(tmp_path, monkeypatch, tokenizer_template: str | None):
    import trl

    seen: list[dict] = []
    original = trl.SFTTrainer.compute_loss

    def recording(self, model, inputs, *args, **kwargs):
        seen.append({k: v.detach().clone() for k, v in inputs.items() if hasattr(v, "detach")})
        return original(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(trl.SFTTrainer, "compute_loss", recording)
    model, tokenizer = load_policy("local")  # the embedded model's trainable twin
    if tokenizer_template is not None:
        tokenizer.chat_template = tokenizer_template
    config = CollabTrainConfig(
        method="sft", max_steps=1, per_device_train_batch_size=4, max_length=256,
        save_steps=100, learning_rate=1e-4, lora=True,
    )  # fmt: skip
    result = train_policy(
        config, train_dataset=sft_rows(), output_dir=tmp_path, model=model, tokenizer=tokenizer
    )
    assert result.global_step == 1 and len(seen) == 1
    return tokenizer, seen[0], result


def check_only_replies_carry_loss(tokenizer, batch) -> None:
    found = loss_by_message(tokenizer, batch)
    for content in [SYSTEM, *USERS[:2]]:  # in every row they appear in: no loss at all
        assert found[content] and all(not any(flags) for flags in found[content]), content
    # every reply carries loss on all its tokens, end-of-turn included, in one row
    for content in REPLIES:
        assert any(flags and all(flags) for flags in found[content]), content
    stop = found.get(USERS[2], [])  # the user's [[TERMINATE CHAT]] turn, where present
    assert all(not any(flags) for flags in stop)
    labels = batch["labels"]
    assert (labels != -100).sum() > 0


@pytest.mark.integration
def test_one_sft_step_trains_only_the_replies_without_generation_markers(tmp_path, monkeypatch):
    tokenizer, batch, result = train_one_step(tmp_path, monkeypatch, None)
    assert batch["input_ids"].shape[0] == 2  # one row per reply
    check_only_replies_carry_loss(tokenizer, batch)
    assert result.trained_tokens > 0 and result.ignored_tokens > result.trained_tokens


@pytest.mark.integration
def test_one_sft_step_trains_only_the_replies_with_generation_markers(tmp_path, monkeypatch):
    tokenizer, batch, result = train_one_step(tmp_path, monkeypatch, CHATML_WITH_MARKERS)
    assert batch["input_ids"].shape[0] == 1  # the conversation whole
    check_only_replies_carry_loss(tokenizer, batch)
    found = loss_by_message(tokenizer, batch)
    assert found[USERS[2]] == [[False] * len(found[USERS[2]][0])]  # the stop turn is there
    assert result.trained_tokens > 0 and result.ignored_tokens > result.trained_tokens


# ------------------------------------------------------------------------------ the CLI


@pytest.mark.integration
@pytest.mark.parametrize("method", ["sft", "dpo"])
def test_show_training_example_prints_what_carries_loss(policy_dir, tmp_path, capsys, method):
    path = tmp_path / "data.jsonl"
    rows = [{"messages": CONVERSATION}] if method == "sft" else list(dpo_dataset(RECORDS))
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    argv = ["--method", method, "--policy", str(policy_dir), "--dataset", str(path),
            "--name", "show", "--show-training-example", "2"]  # fmt: skip
    assert main(argv) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and all(set(line) == {"trained", "ignored"} for line in lines)
    if method == "sft":
        for line, reply in zip(lines, REPLIES, strict=True):
            assert line["trained"].startswith(reply) and SYSTEM not in line["trained"]
            assert SYSTEM in line["ignored"] and USERS[0] in line["ignored"]
            assert TERMINATE not in line["trained"] + line["ignored"]
    else:
        first = dpo_dataset(RECORDS)[0]
        chosen, rejected = first["chosen"][0]["content"], first["rejected"][0]["content"]
        assert chosen in lines[0]["trained"] and rejected in lines[0]["trained"]
        assert first["prompt"][0]["content"] in lines[0]["ignored"]
        assert first["prompt"][0]["content"] not in lines[0]["trained"]
    assert not (tmp_path / "runs").exists()  # nothing trained, nothing written


def test_show_training_example_refuses_the_online_methods(capsys):
    assert main(["--method", "grpo", "--show-training-example", "1"]) == 2
    assert "completions the policy generates" in capsys.readouterr().err
