"""A trainable HF ``(model, tokenizer)`` for a model spec: the embedded GGUF (or any GGUF)
dequantised once and cached as a plain HF folder, or a HF model id. Imports torch and
transformers lazily (the ``train`` extra), so nothing else in the package loads them.

Example:
    >>> from langgraph_collab.roles.trainable import load_trainable_model
    >>> model, tokenizer = load_trainable_model("local")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from langgraph_collab.roles.local import embedded_model_path
from langgraph_collab.roles.models import INSTALL_TRAIN, local_path


def _cache_root() -> Path:
    base = os.environ.get("LANGGRAPH_COLLAB_CACHE") or os.environ.get("XDG_CACHE_HOME")
    return Path(base or Path.home() / ".cache") / "langgraph_collab"


def load_trainable_model(spec: str = "local", *, cache_dir: str | Path | None = None) -> Any:
    """An HF ``(model, tokenizer)`` pair for ``spec``, ready for TRL.

    ``"local"`` and ``"local:/path.gguf"`` dequantise the GGUF file through transformers
    (``gguf_file=``) once and cache the result as a plain HF folder, keyed by the file's
    content; later calls load the folder. Any other spec is a HF model id or folder.
    Imports torch and transformers lazily (the ``train`` extra).

    Example:
        >>> model, tokenizer = load_trainable_model("local")  # doctest: +SKIP
    """
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:
        raise ImportError(f"Training needs the train extra: {INSTALL_TRAIN}") from error
    if not (spec == "local" or spec.startswith("local:")):
        return AutoModelForCausalLM.from_pretrained(spec), AutoTokenizer.from_pretrained(spec)
    gguf = local_path(spec) or embedded_model_path()
    if not gguf.is_file():
        raise FileNotFoundError(f"GGUF file not found: {gguf}")
    digest = hashlib.sha256(f"{gguf.resolve()}:{gguf.stat().st_size}".encode()).hexdigest()[:16]
    folder = Path(cache_dir or _cache_root()) / f"{gguf.stem}-{digest}"
    if not (folder / "config.json").is_file():
        _convert_gguf(gguf, folder)
    return AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def _convert_gguf(gguf: Path, folder: Path) -> None:
    """Dequantise ``gguf`` into an HF folder, written atomically (a kill leaves no half)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A GGUF-loaded model keeps its quantizer, and save_pretrained refuses it: drop both.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = folder.with_name(folder.name + f".partial-{os.getpid()}")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        partial.rename(folder)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(partial, ignore_errors=True)
