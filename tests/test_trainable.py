"""The embedded model's trainable twin (integration: torch + transformers, offline)."""

import pytest

from langgraph_collab.roles.trainable import load_trainable_model

pytestmark = pytest.mark.integration


def test_the_gguf_is_converted_once_and_cached(tmp_path):
    import torch

    model, tokenizer = load_trainable_model("local", cache_dir=tmp_path)
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(folders) == 1 and (folders[0] / "config.json").is_file()
    assert not hasattr(model.config, "quantization_config")
    assert sum(p.numel() for p in model.parameters()) > 100_000_000
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        logits = model(**ids).logits
    assert logits.shape[-1] >= len(tokenizer) - 64
    stamp = (folders[0] / "config.json").stat().st_mtime_ns
    load_trainable_model("local", cache_dir=tmp_path)  # from the cache, not converted again
    assert (folders[0] / "config.json").stat().st_mtime_ns == stamp
