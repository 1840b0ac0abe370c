"""A LangChain chat model over an in-memory transformers model: the policy as it trains.

Evaluation compares the base policy, its proactive-prompt variant and the trained one as
assistants in simulated conversations; GRPO can let the current policy play the future
assistant turns. Both need the HF model (a PEFT adapter included) as a chat model.

Example:
    >>> from langgraph_collab.roles.trainable import load_trainable_model
    >>> from langgraph_collab.roles.hf import ChatTransformers
    >>> model, tokenizer = load_trainable_model("local")  # doctest: +SKIP
    >>> chat = ChatTransformers(model=model, tokenizer=tokenizer, max_tokens=32)  # doctest: +SKIP
    >>> chat.invoke("Hi").content  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

from langgraph_collab.roles.local import BlockingChatModel
from langgraph_collab.state import to_dicts


class ChatTransformers(BlockingChatModel):
    """Chat with a transformers causal LM through its chat template (``generate``).

    Calls are serialised by a lock (one model, one forward at a time); async calls run in
    a worker thread. ``temperature=0`` decodes greedily.

    Example:
        >>> from langgraph_collab.roles.trainable import load_trainable_model
        >>> model, tokenizer = load_trainable_model("local")  # doctest: +SKIP
        >>> chat = ChatTransformers(model=model, tokenizer=tokenizer)  # doctest: +SKIP
        >>> chat.invoke("Hi!").content  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: Any
    tokenizer: Any
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 256
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "transformers"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        import torch

        temperature = kwargs.get("temperature", self.temperature)
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        inputs = self.tokenizer.apply_chat_template(
            to_dicts(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        sampling = {"do_sample": True, "temperature": temperature, "top_p": self.top_p}
        with self._lock, torch.no_grad():
            inputs = inputs.to(self.model.device)
            output = self.model.generate(
                **inputs,
                max_new_tokens=max_tokens,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                **(sampling if temperature > 0 else {"do_sample": False}),
            )
        new = output[0, inputs["input_ids"].shape[1] :]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        for marker in stop or []:
            text = text.split(marker)[0]
        n_in, n_out = int(inputs["input_ids"].shape[1]), int(new.shape[0])
        usage = UsageMetadata(input_tokens=n_in, output_tokens=n_out, total_tokens=n_in + n_out)
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(text, usage_metadata=usage))]
        )
