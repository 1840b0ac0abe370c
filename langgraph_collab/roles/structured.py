"""Structured output that the server honours: pick the method, remember it, show it.

Servers differ in what they enforce: OpenAI and vLLM take a ``json_schema`` response
format; llama-cpp-python's server answers that with HTTP 500 ("Input should be 'text' or
'json_object'") but honours tools; some servers ignore ``response_format`` without a word.
:class:`StructuredOutput` asks a chat model for a pydantic ``schema`` by one ``method``:

- ``"json_schema"``, ``"function_calling"``, ``"json_mode"``: the model's own
  ``with_structured_output(method=...)``; a reply its parser rejects is read again from the
  raw text with :func:`tolerant_parse`;
- ``"text"``: a plain request, its reply read with :func:`tolerant_parse`;
- ``"auto"`` (the default): those four in that order (``"native"``, then ``"text"``, for a
  model whose ``with_structured_output`` takes no ``method``). A method the server rejects
  (HTTP 400/422/500/501 naming ``response_format``, ``json_schema``, tools...) is skipped
  from then on; a method whose reply does not validate hands over to the next one in the
  same attempt. The first method that yields a valid reply is kept for that model (the
  same class, endpoint and model name) by every later call in the process.

What never moves to the next method: a context overflow, a 5xx that does not name the
method (an outage: retried by the role, the method kept), a wrong key, a dropped
connection. Those raise as themselves, so a failed fallback never hides the real error.
The method of each request is in its run's name, tags (``structured_output:<method>``)
and metadata (``structured_output_method``), so LangSmith shows it; ``.chosen`` reads it.

Example:
    >>> from pydantic import BaseModel
    >>> from langgraph_collab.testing import ScriptedChatModel
    >>> class Grade(BaseModel):
    ...     grade: str
    >>> ask = StructuredOutput(ScriptedChatModel(script=['Sure: {"grade": "A"}']), Grade)
    >>> ask.invoke("Grade this").grade, ask.chosen
    ('A', 'text')
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import threading
import weakref
from typing import Any, Literal

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, patch_config
from pydantic import BaseModel, ValidationError

from langgraph_collab._runtime.traced import atraced, traced
from langgraph_collab.errors import MalformedReply, status_of

Method = Literal["auto", "json_schema", "function_calling", "json_mode", "text"]
METHODS: tuple[str, ...] = ("auto", "json_schema", "function_calling", "json_mode", "text")
ORDER: tuple[str, ...] = ("json_schema", "function_calling", "json_mode", "text")
"""The order ``auto`` tries, most to least enforced."""

REJECTING_STATUS = frozenset({400, 422, 500, 501})
_NAMES_METHOD = re.compile(
    r"response_format|json_schema|json_object|tool_choice|tool[ _]choice|\btools?\b"
    r"|function[ _]call|structured output|guided_json|grammar",
    re.IGNORECASE,
)
_OVERFLOW = re.compile(
    r"context[ _]length|context window|context size|maximum context|exceed_context"
    r"|too many tokens|prompt is too long",
    re.IGNORECASE,
)


class UnsupportedMethod(ValueError):
    """The server rejects the structured-output method asked for explicitly: permanent
    (retrying the same request cannot help); ``method="auto"`` moves on instead.

    Example:
        >>> isinstance(UnsupportedMethod("json_schema refused"), ValueError)
        True
    """


def is_context_overflow(error: BaseException) -> bool:
    """Whether ``error`` says the prompt (plus the reply's room) exceeds the context.

    Example:
        >>> is_context_overflow(ValueError("Requested tokens (4200) exceed context window of 4096"))
        True
    """
    return bool(_OVERFLOW.search(str(error)))


def rejects_method(error: BaseException) -> bool:
    """Whether ``error`` is the server refusing the request's structured-output method
    (not an outage, not a context overflow).

    Example:
        >>> class Refused(Exception):
        ...     status_code = 500
        >>> rejects_method(Refused("response_format: Input should be 'text' or 'json_object'"))
        True
        >>> rejects_method(Refused("Internal Server Error"))
        False
    """
    if status_of(error) not in REJECTING_STATUS or is_context_overflow(error):
        return False
    return bool(_NAMES_METHOD.search(str(error)))


_GRADE = re.compile(r"interactivity\W{0,4}([ABC])\b", re.IGNORECASE)
_CORRECT = re.compile(r"correct\W{0,4}(true|false|yes|no)\b", re.IGNORECASE)


def tolerant_parse(text: str, schema: type[BaseModel]) -> BaseModel:
    """Parse ``schema`` from free text: the last JSON object in it, else ``key: value``
    patterns (a judge's ``interactivity`` and ``correct``). Raises :class:`MalformedReply`
    when neither yields a valid object.

    Example:
        >>> class Grade(BaseModel):
        ...     grade: str
        >>> tolerant_parse('My verdict: {"grade": "B"}.', Grade).grade
        'B'
    """
    for match in reversed(list(re.finditer(r"\{.*\}", text, re.DOTALL))):
        try:
            return schema.model_validate(json.loads(match.group(0)))
        except ValueError:
            continue
    fields: dict[str, Any] = {"thought": "", "final_artifact": ""}
    if grade := _GRADE.search(text):
        fields["interactivity"] = grade.group(1).upper()
    if correct := _CORRECT.search(text):
        fields["correct"] = correct.group(1).lower() in ("true", "yes")
    try:
        return schema.model_validate(fields)
    except ValueError as error:
        raise MalformedReply(f"could not read a {schema.__name__} from: {text[:200]!r}") from error


@functools.cache
def _reply_errors() -> tuple[type[BaseException], ...]:
    """Errors an SDK raises inside the call when it validates the reply itself."""
    found: list[type[BaseException]] = [
        ValidationError,
        json.JSONDecodeError,
        OutputParserException,
    ]
    try:
        import openai

        found.append(openai.LengthFinishReasonError)  # the reply ran out of tokens mid-JSON
    except ImportError:  # openai is only there with an OpenAI-compatible provider
        pass
    return tuple(found)


def _text(message: Any) -> str:
    """The text of a raw reply, tool-call arguments last (a tool call is the reply)."""
    if not isinstance(message, BaseMessage):
        return str(message)
    calls = getattr(message, "tool_calls", None) or []
    return "\n".join([message.text, *(json.dumps(call.get("args") or {}) for call in calls)])


class _Memory:
    """Per model (class, endpoint, model name): the method that worked, the ones refused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chosen: dict[Any, str] = {}
        self._refused: dict[Any, set[str]] = {}

    @staticmethod
    def key(model: BaseChatModel) -> Any:
        """Models are told apart by class, endpoint and model name; one with neither an
        endpoint nor a name (a test double) stands for itself alone."""
        endpoint = next(
            (
                value
                for attr in ("openai_api_base", "base_url", "model_path")
                if isinstance(value := getattr(model, attr, None), str) and value
            ),
            None,
        )
        name = getattr(model, "model_name", None) or getattr(model, "model", None)
        if endpoint is None and not isinstance(name, str):
            weakref.finalize(model, MEMORY.forget, id(model))
            return id(model)
        return (type(model).__qualname__, endpoint, str(name))

    def chosen(self, key: Any) -> str | None:
        return self._chosen.get(key)

    def refused(self, key: Any) -> set[str]:
        with self._lock:
            return set(self._refused.get(key, ()))

    def choose(self, key: Any, method: str) -> None:
        with self._lock:
            self._chosen.setdefault(key, method)

    def refuse(self, key: Any, method: str) -> None:
        """``method`` is refused by the server: never asked again, no longer chosen."""
        with self._lock:
            self._refused.setdefault(key, set()).add(method)
            if self._chosen.get(key) == method:
                del self._chosen[key]

    def forget(self, key: Any) -> None:
        with self._lock:
            self._chosen.pop(key, None)
            self._refused.pop(key, None)

    def clear(self) -> None:
        """Forget every model (tests; a server restarted with other options)."""
        with self._lock:
            self._chosen.clear()
            self._refused.clear()


MEMORY = _Memory()
"""What ``auto`` learnt, per model, in this process."""


def _takes_method(model: BaseChatModel) -> bool:
    return "method" in inspect.signature(model.with_structured_output).parameters


def _runner(model: BaseChatModel, schema: type[BaseModel], method: str) -> Runnable:
    """The request of one method: the plain model for ``text``, the model's own structured
    output for ``native``, else ``with_structured_output(method=...)``."""
    if method == "text":
        return model
    if method == "native":
        return model.with_structured_output(schema, include_raw=True)
    return model.with_structured_output(schema, method=method, include_raw=True)


class StructuredOutput(Runnable[Any, BaseModel]):
    """``model`` answering ``schema`` by ``method`` (see the module docstring): messages in,
    a ``schema`` instance out, or :class:`MalformedReply` (transient: the role retries).

    ``method`` is what was asked; ``chosen`` is the method in use (``auto``: the one that
    first gave a valid reply for this model, None until then); ``candidates`` are the
    methods this model can be asked by, in order. ``trace=False`` opens no run of its own
    (inside a role, whose run it would repeat): the model run, named
    ``structured_<Schema>:<method>``, still says which method answered.

    Example:
        >>> StructuredOutput(model, JudgeReply, method="function_calling")  # doctest: +SKIP
    """

    def __init__(
        self,
        model: BaseChatModel,
        schema: type[BaseModel],
        *,
        method: Method = "auto",
        trace: bool = True,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {method!r}")
        self.model, self.schema, self.method, self.trace = model, schema, method, trace
        self.name = f"structured_{schema.__name__}"
        self._runners = self._build()
        self._key = MEMORY.key(model)

    def _build(self) -> dict[str, Runnable]:
        """The runnable of each method to try, in order. ``auto`` skips the methods this
        model's class cannot be asked by; an explicit one it cannot is a ``ValueError``."""
        model, schema = self.model, self.schema
        if self.method != "auto":
            if self.method != "text" and not _takes_method(model):
                raise ValueError(
                    f"{type(model).__name__} picks its own structured-output method: "
                    f"use method='auto' or 'text', not {self.method!r}"
                )
            return {self.method: _runner(model, schema, self.method)}
        runners: dict[str, Runnable] = {}
        for method in ORDER if _takes_method(model) else ("native", "text"):
            try:
                runners[method] = _runner(model, schema, method)
            except (NotImplementedError, ValueError):  # this class has no such method
                continue
        return runners

    @property
    def candidates(self) -> tuple[str, ...]:
        return tuple(self._runners)

    @property
    def chosen(self) -> str | None:
        if self.method != "auto":
            return self.method
        return MEMORY.chosen(self._key)

    def _plan(self) -> list[str]:
        """The methods to try on this call, in order."""
        if chosen := self.chosen:
            return [chosen]
        refused = MEMORY.refused(self._key)
        return [name for name in self._runners if name not in refused]

    def _config(self, config: RunnableConfig, method: str) -> RunnableConfig:
        return patch_config(
            {
                **config,
                "tags": [*config.get("tags", []), f"structured_output:{method}"],
                "metadata": {**config.get("metadata", {}), "structured_output_method": method},
            },
            run_name=f"{self.name}:{method}",
        )

    def _read(self, output: Any) -> BaseModel:
        """The schema object from a runner's output, or :class:`MalformedReply`."""
        if isinstance(output, dict) and "raw" in output:
            if isinstance(output.get("parsed"), self.schema):
                return output["parsed"]
            output = output["raw"]
        if isinstance(output, self.schema):
            return output
        return tolerant_parse(_text(output), self.schema)

    @staticmethod
    def _failure(error: Exception) -> Exception:
        """A reply the SDK refused inside the call is a malformed reply like any other."""
        if isinstance(error, _reply_errors()):
            return MalformedReply(f"the reply did not validate: {error}")
        return error

    def _next(self, method: str, error: Exception, failures: list[str]) -> None:
        """After ``method`` failed with ``error``: return to try the next method, or raise
        what must not be hidden behind another method's error."""
        if rejects_method(error):
            if self.method != "auto":
                raise UnsupportedMethod(
                    f"the server rejects structured output by {method!r}: {error} "
                    f"(method='auto' finds one it honours)"
                ) from error
            MEMORY.refuse(self._key, method)  # a chosen one too: the server changed
        elif not (isinstance(error, MalformedReply) and self.method == "auto" and not self.chosen):
            raise error  # a malformed reply moves on only while probing
        failures.append(f"{method}: {error}")

    def _succeeded(self, method: str, reply: BaseModel) -> BaseModel:
        if self.method == "auto":
            MEMORY.choose(self._key, method)
        return reply

    def _exhausted(self, failures: list[str]) -> MalformedReply:
        return MalformedReply(
            f"no method gave a valid {self.schema.__name__}: {'; '.join(failures)}"
        )

    def _call(self, messages: Any, config: RunnableConfig) -> BaseModel:
        failures: list[str] = []
        for method in self._plan():
            child = self._config(config, method)
            try:
                reply = self._read(self._runners[method].invoke(messages, child))
            except Exception as error:  # classified by _next: the next method, or raised
                self._next(method, self._failure(error), failures)
            else:
                return self._succeeded(method, reply)
        raise self._exhausted(failures)

    async def _acall(self, messages: Any, config: RunnableConfig) -> BaseModel:
        failures: list[str] = []
        for method in self._plan():
            child = self._config(config, method)
            try:
                reply = self._read(await self._runners[method].ainvoke(messages, child))
            except Exception as error:  # classified by _next: the next method, or raised
                self._next(method, self._failure(error), failures)
            else:
                return self._succeeded(method, reply)
        raise self._exhausted(failures)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if not self.trace:
            return self._call(input, ensure_config(config))
        config = {**ensure_config(config), "run_name": self.name}
        return traced(self._call, input, config, name=self.name)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if not self.trace:
            return await self._acall(input, ensure_config(config))
        config = {**ensure_config(config), "run_name": self.name}
        return await atraced(self._acall, input, config, name=self.name)
