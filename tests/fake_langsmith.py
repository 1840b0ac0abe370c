"""A local, in-memory LangSmith API server for tests that run the *real* ``langsmith`` SDK.

``FakeLangSmith`` is a stdlib ``ThreadingHTTPServer`` on ``127.0.0.1`` (ephemeral port, daemon
thread) that speaks the subset of the LangSmith REST API the SDK (0.15.x) uses for tracing,
feedback and simple reads. Point the SDK at :attr:`FakeLangSmith.url` and nothing leaves the
machine.

Endpoints (everything else answers 404 JSON and is recorded in ``unknown_requests``):

* ``GET /info`` -- a *complete* info object: ``version``, a full ``batch_ingest_config`` (a
  partial one crashes the SDK's tracing thread with a ``KeyError``, after which
  ``flush()`` / ``wait_for_all_tracers()`` block forever) and ``instance_flags``
  (``zstd_compression_enabled`` per the ``compression`` option, v1 query backend).
* Run ingestion, merged per run id into :attr:`runs`:

  - ``POST /runs/multipart`` -- ``multipart/form-data`` with parts ``post.<id>``, ``patch.<id>``,
    ``post|patch.<id>.<field>`` (``inputs``/``outputs``/``events``/``extra``/``error``/
    ``serialized``), ``attachment.<id>.<name>`` and ``feedback.<id>``; optionally
    ``Content-Encoding: zstd`` (decompressed with ``zstandard``) and chunked bodies.
  - ``POST /runs/batch`` (``{"post": [...], "patch": [...]}``), ``POST /runs``,
    ``PATCH /runs/{id}``.

* ``GET /runs/{id}`` (``Client.read_run``) and ``POST /runs/query`` (``Client.list_runs``),
  see :meth:`FakeLangSmith.query_runs` for the supported filters.
* ``POST /feedback``, ``GET /feedback`` (``run``/``key``/``source``/``limit``/``offset``),
  ``GET|PATCH|DELETE /feedback/{id}``. Feedback sent as ``feedback.<id>`` multipart parts (what
  ``create_feedback(..., trace_id=...)`` does when background tracing is on) lands in the same
  :attr:`feedback` list.
* ``GET /sessions`` (``name``, ``name_contains``, ``id``, ``limit``, ``offset``),
  ``GET|PATCH|DELETE /sessions/{id}``, ``POST /sessions`` (``Client.create_project``; 409 if the
  name exists unless ``?upsert=true``). Projects are also created implicitly when a run arrives
  with a ``session_name`` (or an unknown ``session_id``); runs with neither go to "default".

``down=True`` (or ``server.down = True`` at any time) answers 503 to every request, recorded in
:attr:`requests` but not applied. ``server.hold = threading.Event()`` keeps every send after
it (a POST or PATCH) unanswered, recorded but not applied, until the event is set: a send in
flight for as long as a test wants.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import gzip
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

HOLD_BOUND_S = 120  # the longest a held request waits: a failure bound, not a speed check

__all__ = [
    "ENV_PREFIXES",
    "FakeLangSmith",
    "RecordedRequest",
    "UnsupportedFilterError",
    "compile_filter",
    "parse_multipart",
    "reset_langsmith_caches",
]

TENANT_ID = "00000000-0000-4000-8000-000000000001"
ENV_PREFIXES = ("LANGSMITH_", "LANGCHAIN_")

# Fields of the ingestion payload that live in their own multipart part.
_RUN_PART_FIELDS = ("inputs", "outputs", "events", "extra", "error", "serialized")
_UUID_LEN = 36
# Keys every stored run has (as in API responses), with their defaults.
_RUN_DEFAULTS: dict[str, Any] = {
    "parent_run_id": None,
    "error": None,
    "end_time": None,
    "outputs": None,
    "inputs": dict,
    "tags": list,
    "extra": dict,
}


class UnsupportedFilterError(ValueError):
    """A ``filter`` expression (or query option) the fake does not implement."""


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)


class _HTTPError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def _parse_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _norm_id(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(value)


# ---------------------------------------------------------------------------------------------
# multipart


def _boundary(content_type: str) -> bytes:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise _HTTPError(400, "multipart body without boundary")
    return match.group(1).encode()


def parse_multipart(body: bytes, content_type: str) -> list[tuple[str, str, bytes]]:
    """Split a ``multipart/form-data`` body into ``(name, content_type, data)`` parts."""
    delimiter = b"--" + _boundary(content_type)
    parts: list[tuple[str, str, bytes]] = []
    for segment in body.split(delimiter)[1:]:
        if segment.startswith(b"--"):
            break  # closing delimiter
        segment = segment.removeprefix(b"\r\n")
        head, sep, data = segment.partition(b"\r\n\r\n")
        if not sep:
            raise _HTTPError(400, "malformed multipart part")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        length = headers.get("content-length")
        data = data[: int(length)] if length and length.isdigit() else data.removesuffix(b"\r\n")
        name_match = re.search(r'name="([^"]*)"', headers.get("content-disposition", ""))
        if not name_match:
            raise _HTTPError(400, "multipart part without a name")
        parts.append((name_match.group(1), headers.get("content-type", ""), data))
    return parts


# ---------------------------------------------------------------------------------------------
# filter expressions (a small subset of the LangSmith query language)

_FILTER_FIELDS = {
    "id",
    "name",
    "run_type",
    "status",
    "trace_id",
    "parent_run_id",
    "session_id",
    "error",
    "reference_example_id",
}
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<punct>[(),])|'
    r"(?P<word>[A-Za-z0-9_.:+-]+))"
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise UnsupportedFilterError(f"cannot parse filter near {text[pos:]!r}")
        pos = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "str":
            value = ast.literal_eval(value)
        tokens.append((kind, value))
    return tokens


def compile_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    """Compile ``eq``/``neq``/``has``/``in``/``and``/``or``/``not`` over run fields.

    Supported: ``eq(f, v)``, ``neq(f, v)`` and ``in(f, [..])``-style ``in(f, v1, v2)`` for
    ``f`` in id, name, run_type, status, trace_id, parent_run_id, session_id, error,
    reference_example_id; ``has(tags, "t")``; ``eq(metadata_key, "k")`` (key present) and
    ``and(eq(metadata_key, "k"), eq(metadata_value, "v"))`` (matched as the pair ``k == v``);
    ``and(...)``, ``or(...)``, ``not(...)``. Anything else raises ``UnsupportedFilterError``.
    """
    tokens = _tokenize(text)
    pos = 0

    def take(kind: str | None = None, value: str | None = None) -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise UnsupportedFilterError(f"unexpected end of filter {text!r}")
        tok_kind, tok_value = tokens[pos]
        if (kind and tok_kind != kind) or (value and tok_value != value):
            raise UnsupportedFilterError(f"unexpected {tok_value!r} in filter {text!r}")
        pos += 1
        return tok_value

    def peek() -> str:
        return tokens[pos][1] if pos < len(tokens) else ""

    def arg_value() -> str:
        kind, value = tokens[pos] if pos < len(tokens) else ("", "")
        if kind not in ("str", "word"):
            raise UnsupportedFilterError(f"expected a value in filter {text!r}")
        take()
        return value

    def expr() -> Callable[[dict[str, Any]], bool]:
        op = take("word").lower()
        take("punct", "(")
        if op in ("and", "or", "not"):
            subs = [expr()]
            while peek() == ",":
                take()
                subs.append(expr())
            take("punct", ")")
            if op == "not":
                if len(subs) != 1:
                    raise UnsupportedFilterError("not() takes one argument")
                return lambda r: not subs[0](r)
            if op == "and":
                return _and_with_metadata_pairs(subs)
            return lambda r: any(s(r) for s in subs)
        fld = take("word")
        values = []
        while peek() == ",":
            take()
            values.append(arg_value())
        take("punct", ")")
        return _leaf(op, fld, values, text)

    result = expr()
    if pos != len(tokens):
        raise UnsupportedFilterError(f"trailing tokens in filter {text!r}")
    return result


class _MetadataLeaf:
    def __init__(self, kind: str, value: str) -> None:
        self.kind, self.value = kind, value

    def __call__(self, run: dict[str, Any]) -> bool:
        metadata = (run.get("extra") or {}).get("metadata") or {}
        if self.kind == "metadata_key":
            return self.value in metadata
        return any(str(v) == self.value for v in metadata.values())


def _and_with_metadata_pairs(
    subs: list[Callable[[dict[str, Any]], bool]],
) -> Callable[[dict[str, Any]], bool]:
    keys = [s for s in subs if isinstance(s, _MetadataLeaf) and s.kind == "metadata_key"]
    vals = [s for s in subs if isinstance(s, _MetadataLeaf) and s.kind == "metadata_value"]
    if len(keys) == 1 and len(vals) == 1:
        key, val = keys[0].value, vals[0].value
        rest = [s for s in subs if s is not keys[0] and s is not vals[0]]

        def pair(run: dict[str, Any]) -> bool:
            metadata = (run.get("extra") or {}).get("metadata") or {}
            return key in metadata and str(metadata[key]) == val and all(s(run) for s in rest)

        return pair
    return lambda r: all(s(r) for s in subs)


def _leaf(op: str, fld: str, values: list[str], text: str) -> Callable[[dict[str, Any]], bool]:
    if fld in ("metadata_key", "metadata_value") and op == "eq" and len(values) == 1:
        return _MetadataLeaf(fld, values[0])
    if op == "has" and fld == "tags" and len(values) == 1:
        return lambda r: values[0] in (r.get("tags") or [])
    if fld not in _FILTER_FIELDS:
        raise UnsupportedFilterError(f"unsupported field {fld!r} in filter {text!r}")

    def get(run: dict[str, Any]) -> str:
        value = run.get(fld)
        if fld == "error":
            return "true" if value else "false"
        return "" if value is None else str(value)

    if op == "eq" and len(values) == 1:
        return lambda r: get(r) == values[0]
    if op == "neq" and len(values) == 1:
        return lambda r: get(r) != values[0]
    if op == "in" and values:
        return lambda r: get(r) in values
    raise UnsupportedFilterError(f"unsupported operator {op!r} in filter {text!r}")


# ---------------------------------------------------------------------------------------------
# cache reset helper for env-configured tracing


def reset_langsmith_caches() -> None:
    """Forget process-wide LangSmith state so new ``LANGSMITH_*`` env vars take effect.

    The SDK caches env lookups (``langsmith.utils.get_env_var``/``get_tracer_project``) and the
    client LangChain traces with (``langsmith.run_trees._CLIENT``, built on first use from the
    env). Without this, a second test would keep tracing to the first test's server.
    """
    from langsmith import run_trees, utils

    cached = (
        utils.get_env_var,
        utils.get_tracer_project,
        getattr(run_trees, "_exclude_inputs_on_patch", None),
    )
    for fn in cached:
        cache_clear = getattr(fn, "cache_clear", None)
        if cache_clear is not None:
            cache_clear()
    run_trees._CLIENT = None


# ---------------------------------------------------------------------------------------------
# the server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeLangSmith/1.0"
    timeout = 30  # idle keep-alive connections
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm plus the
        # client's delayed ACK add ~40 ms to every response.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        fake = self.server.fake
        body = self._read_body()
        split = urlsplit(self.path)
        status, payload = fake._dispatch(
            self.command, split.path, parse_qs(split.query), dict(self.headers.items()), body
        )
        data = json.dumps(payload, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if fake._closing:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeLangSmith


class FakeLangSmith:
    """In-memory LangSmith API on ``127.0.0.1:<ephemeral>`` for the real SDK.

    Use as a context manager (``with FakeLangSmith() as server: ...``) or call
    :meth:`start`/:meth:`stop` from a fixture.

    Attributes:
        url: Base URL to use as ``LANGSMITH_ENDPOINT`` / ``Client(api_url=...)``.
        runs: run id (str) -> merged run dict (creates and updates applied in arrival order;
            ``inputs``, ``outputs``, ``error``, ``tags``, ``extra`` incl. ``extra.metadata``,
            ``parent_run_id``, ``trace_id``, ``dotted_order``, ``session_name``/``session_id``,
            ``start_time``/``end_time`` kept as sent, plus derived ``status``, ``parent_run_ids``,
            ``is_root``). Attachments are in :attr:`attachments`.
        feedback: feedback dicts in arrival order (``id``, ``run_id``, ``trace_id``, ``key``,
            ``score``, ``value``, ``comment``, ``correction``, ``session_id``, ``extra``, ...).
        projects: project name -> project (session) dict.
        attachments: run id -> {name: (content_type, bytes)}.
        requests: every request received, as :class:`RecordedRequest`.
        unknown_requests: ``(method, path)`` of requests for endpoints the fake does not serve
            (answered 404) and of queries it cannot evaluate (answered 400).
        errors: ``(method, path, detail)`` of requests answered with 4xx/5xx other than 503s in
            down mode and 404s for unknown paths.
        down: when true every request is answered 503 (settable at any time).
        hold: when an event, every POST or PATCH waits unanswered until it is set (at most
            ``HOLD_BOUND_S``, so a test that forgets to release it fails instead of hanging).
        compression, version, api_key, page_size: the constructor options, settable at any
            time (``compression``/``version`` only affect clients that fetch ``/info`` later).
    """

    def __init__(
        self,
        *,
        down: bool = False,
        compression: bool = True,
        version: str = "0.12.0",
        api_key: str | None = None,
        info: dict[str, Any] | None = None,
        page_size: int = 100,
    ) -> None:
        """Create (not start) the server.

        Args:
            down: start in "endpoint down" mode (503 for everything).
            compression: advertise ``instance_flags.zstd_compression_enabled``; the SDK then
                sends runs as one zstd-compressed multipart stream. With ``False`` it sends
                plain multipart (and logs a warning unless
                ``LANGSMITH_DISABLE_RUN_COMPRESSION=true``).
            version: reported server version. ``>= 0.8.10`` makes ``create_feedback`` with a
                ``trace_id`` go through the background multipart queue.
            api_key: if set, requests whose ``x-api-key`` differs get 401.
            info: keys merged over the default ``/info`` payload.
            page_size: ``POST /runs/query`` page size when the body has no ``limit`` (small
                values exercise the SDK's cursor pagination).
        """
        self.down = down
        self.hold: threading.Event | None = None
        self.compression = compression
        self.version = version
        self.api_key = api_key
        self.info_overrides = dict(info or {})
        self.page_size = page_size
        self.runs: dict[str, dict[str, Any]] = {}
        self.feedback: list[dict[str, Any]] = []
        self.projects: dict[str, dict[str, Any]] = {}
        self.attachments: dict[str, dict[str, tuple[str, bytes]]] = {}
        self.requests: list[RecordedRequest] = []
        self.unknown_requests: list[tuple[str, str]] = []
        self.errors: list[tuple[str, str, str]] = []
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self._connections: set[Any] = set()
        self._closing = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeLangSmith:
        if self._server is not None:
            return self
        self._closing = False
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeLangSmith:{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections (clients see connection errors)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._closing = True
        server.shutdown()
        server.server_close()
        with self.lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(2)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeLangSmith:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, conn: Any, *, add: bool) -> None:
        with self.lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # -- helpers for tests -------------------------------------------------------------------

    def env(self, project: str = "default", **extra: str) -> dict[str, str]:
        """Env vars that point env-configured tracing at this server."""
        return {
            "LANGSMITH_TRACING": "true",
            "LANGSMITH_ENDPOINT": self.url,
            "LANGSMITH_API_KEY": self.api_key or "fake-api-key",
            "LANGSMITH_PROJECT": project,
            **extra,
        }

    def client(self, *, fail_fast: bool = False, **kwargs: Any) -> Any:
        """A ``langsmith.Client`` for this server.

        ``fail_fast=True`` disables urllib3's transport retries (3 retries with 0/1/2 s
        backoff on 5xx and connection errors) so "server down" costs milliseconds.
        """
        from langsmith import Client

        if fail_fast:
            from urllib3.util.retry import Retry

            kwargs.setdefault("retry_config", Retry(total=0, raise_on_status=False))
            kwargs.setdefault("timeout_ms", 2000)
        return Client(api_url=self.url, api_key=self.api_key or "fake-api-key", **kwargs)

    def set_down(self, down: bool = True) -> None:
        self.down = down

    def reset(self) -> None:
        """Forget all stored data and recorded requests."""
        with self.lock:
            self.runs.clear()
            self.feedback.clear()
            self.projects.clear()
            self.attachments.clear()
            self.requests.clear()
            self.unknown_requests.clear()
            self.errors.clear()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate()`` (called under the lock) is true; return its last value."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.1))
            return True

    def root_runs(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self._sorted_runs() if r.get("parent_run_id") is None]

    def children(self, run_id: Any) -> list[dict[str, Any]]:
        rid = _norm_id(run_id)
        with self.lock:
            return [r for r in self._sorted_runs() if r.get("parent_run_id") == rid]

    def runs_named(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self._sorted_runs() if r.get("name") == name]

    def run_named(self, name: str) -> dict[str, Any]:
        """The single run called ``name`` (AssertionError if there are 0 or several)."""
        matches = self.runs_named(name)
        assert len(matches) == 1, f"expected one run named {name!r}, got {len(matches)}"
        return matches[0]

    def project(self, name: str) -> dict[str, Any]:
        with self.lock:
            return self.projects[name]

    def query_runs(
        self,
        *,
        session: list[str] | None = None,
        run_type: str | None = None,
        is_root: bool | None = None,
        trace: str | None = None,
        parent_run: str | None = None,
        id: list[str] | None = None,
        error: bool | None = None,
        reference_example: list[str] | None = None,
        start_time: str | None = None,
        filter: str | None = None,
        order: str = "desc",
        **unsupported: Any,
    ) -> list[dict[str, Any]]:
        """The ``POST /runs/query`` semantics, usable directly from tests.

        Supported body keys: ``session`` (project ids; ``session_id`` is an alias),
        ``run_type``, ``is_root``, ``trace``, ``parent_run``, ``id`` (run ids), ``error``,
        ``reference_example``, ``start_time`` (runs that started at or after it), ``filter``
        (see :func:`compile_filter`), ``order`` (``desc`` by start time, the default, or
        ``asc``), ``limit``/``cursor`` (pagination, by the HTTP layer) and ``select`` (ignored:
        every field is returned). ``query``, ``trace_filter``, ``tree_filter`` and unknown keys
        raise ``UnsupportedFilterError`` (HTTP 400, also logged in ``unknown_requests``).
        """
        if unsupported.get("session_id") is not None:  # Client._load_child_runs sends this
            sid = unsupported.pop("session_id")
            session = [*(session or []), *(sid if isinstance(sid, list) else [sid])]
        ignored = {"select", "limit", "cursor", "skip_pagination"}
        bad = {k: v for k, v in unsupported.items() if k not in ignored and v is not None}
        if bad:
            raise UnsupportedFilterError(f"unsupported run query keys: {sorted(bad)}")
        predicate = compile_filter(filter) if filter else None
        sessions = {_norm_id(s) for s in session} if session else None
        ids = {_norm_id(i) for i in id} if id else None
        examples = {_norm_id(e) for e in reference_example} if reference_example else None
        since = _parse_time(start_time)
        out = []
        with self.lock:
            for run in self.runs.values():
                if sessions is not None and run.get("session_id") not in sessions:
                    continue
                if run_type is not None and run.get("run_type") != run_type:
                    continue
                if is_root is not None and (run.get("parent_run_id") is None) != is_root:
                    continue
                if trace is not None and run.get("trace_id") != _norm_id(trace):
                    continue
                if parent_run is not None and run.get("parent_run_id") != _norm_id(parent_run):
                    continue
                if ids is not None and run.get("id") not in ids:
                    continue
                if error is not None and bool(run.get("error")) != error:
                    continue
                if examples is not None and run.get("reference_example_id") not in examples:
                    continue
                if since is not None:
                    started = _parse_time(run.get("start_time"))
                    if started is None or started < since:
                        continue
                if predicate is not None and not predicate(run):
                    continue
                out.append(run)
        out.sort(key=_run_sort_key, reverse=order != "asc")
        return [_public_run(r) for r in out]

    def info(self) -> dict[str, Any]:
        """The ``GET /info`` payload (complete, or the SDK's tracing thread dies)."""
        return {
            "version": self.version,
            "license_expiration_time": None,
            "batch_ingest_config": {
                "use_multipart_endpoint": True,
                "scale_up_qsize_trigger": 1000,
                "scale_up_nthreads_limit": 16,
                "scale_down_nempty_trigger": 4,
                "size_limit": 100,
                "size_limit_bytes": 20_971_520,
            },
            "instance_flags": {
                "zstd_compression_enabled": self.compression,
                "ch_query_enabled": True,
                "sdb_query_enabled": False,
                "dataset_examples_multipart_enabled": False,
                "examples_multipart_enabled": False,
            },
            "customer_info": None,
            **self.info_overrides,
        }

    # -- storage -----------------------------------------------------------------------------

    def _sorted_runs(self) -> list[dict[str, Any]]:
        return sorted(self.runs.values(), key=_run_sort_key)

    def _ensure_project(self, name: str | None = None, project_id: str | None = None) -> dict:
        with self.lock:
            if project_id is not None:
                for proj in self.projects.values():
                    if proj["id"] == project_id:
                        return proj
            if name is None:
                name = "default" if project_id is None else f"project-{project_id[:8]}"
            if name not in self.projects:
                self.projects[name] = _new_project(name, project_id=project_id)
            return self.projects[name]

    def _apply_run(self, op: str, payload: dict[str, Any]) -> None:
        run_id = _norm_id(payload.get("id"))
        if run_id is None:
            raise _HTTPError(422, "run without id")
        with self.lock:
            run = self.runs.setdefault(run_id, {"id": run_id})
            for key, value in payload.items():
                if key in ("id", "attachments"):
                    continue
                if op == "patch" and value is None:
                    continue
                if (
                    key == "extra"
                    and isinstance(value, dict)
                    and isinstance(run.get("extra"), dict)
                ):
                    old = run["extra"]
                    merged = {**old, **value}
                    if isinstance(old.get("metadata"), dict) and isinstance(
                        value.get("metadata"), dict
                    ):
                        merged["metadata"] = {**old["metadata"], **value["metadata"]}
                    run["extra"] = merged
                elif op == "post" and key in run and value is None:
                    continue
                else:
                    run[key] = value
            for key in ("trace_id", "parent_run_id", "session_id", "reference_example_id"):
                if run.get(key) is not None:
                    run[key] = _norm_id(run[key])
            run.setdefault("trace_id", run_id)
            for key, default in _RUN_DEFAULTS.items():
                if run.get(key) is None:
                    run[key] = default() if callable(default) else default
            session_name = run.get("session_name")
            if session_name or run.get("session_id") is None or op == "post":
                proj = self._ensure_project(session_name, run.get("session_id"))
                run["session_id"] = proj["id"]
                run["session_name"] = proj["name"]
                proj["last_run_start_time"] = run.get("start_time")
            dotted = run.get("dotted_order") or ""
            ancestors = [seg[-_UUID_LEN:] for seg in dotted.split(".") if seg][:-1]
            run["parent_run_ids"] = ancestors
            run["is_root"] = run.get("parent_run_id") is None
            run["status"] = (
                "error" if run.get("error") else "success" if run.get("end_time") else ("pending")
            )
            self._changed.notify_all()

    def _apply_feedback(self, payload: dict[str, Any]) -> dict[str, Any]:
        now = _now()
        fb = {
            "created_at": now,
            "modified_at": now,
            "score": None,
            "value": None,
            "comment": None,
            "correction": None,
            "session_id": None,
            "trace_id": None,
            "run_id": None,
            **payload,
        }
        fb["id"] = _norm_id(fb.get("id")) or str(uuid.uuid4())
        for key in ("run_id", "trace_id", "session_id"):
            fb[key] = _norm_id(fb.get(key))
        with self.lock:
            self.feedback = [f for f in self.feedback if f["id"] != fb["id"]]
            self.feedback.append(fb)
            self._changed.notify_all()
        return fb

    # -- HTTP dispatch -------------------------------------------------------------------------

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, Any]:
        lower_headers = {k.lower(): v for k, v in headers.items()}
        record = RecordedRequest(method, path, query, 200, lower_headers, body)
        with self.lock:
            self.requests.append(record)
            self._changed.notify_all()
        hold = self.hold
        if hold is not None and method in ("POST", "PATCH"):
            hold.wait(HOLD_BOUND_S)
        if self.down:
            record.status = 503
            return 503, {"detail": "Service Unavailable (FakeLangSmith is down)"}
        try:
            if self.api_key is not None and lower_headers.get("x-api-key") != self.api_key:
                raise _HTTPError(401, "invalid api key")
            status, payload = self._route(
                method, path.rstrip("/") or "/", query, lower_headers, body
            )
        except _HTTPError as exc:
            status, payload = exc.status, {"detail": exc.detail}
            if exc.status != 404 or not self._is_unknown(method, path):
                with self.lock:
                    self.errors.append((method, path, exc.detail))
        except UnsupportedFilterError as exc:
            status, payload = 400, {"detail": str(exc)}
            with self.lock:
                self.unknown_requests.append((method, path))
                self.errors.append((method, path, str(exc)))
        except Exception as exc:  # a bug in the fake: surface it as a 500 the test can see
            status, payload = 500, {"detail": f"{type(exc).__name__}: {exc}"}
            with self.lock:
                self.errors.append((method, path, payload["detail"]))
        record.status = status
        if status == 404 and self._is_unknown(method, path):
            with self.lock:
                self.unknown_requests.append((method, path))
        return status, payload

    _KNOWN = (
        ("GET", r"/info"),
        ("POST", r"/runs/multipart"),
        ("POST", r"/runs/batch"),
        ("POST", r"/runs/query"),
        ("POST", r"/runs"),
        ("GET|PATCH", r"/runs/[^/]+"),
        ("GET|POST", r"/feedback"),
        ("GET|PATCH|DELETE", r"/feedback/[^/]+"),
        ("GET|POST", r"/sessions"),
        ("GET|PATCH|DELETE", r"/sessions/[^/]+"),
    )

    def _is_unknown(self, method: str, path: str) -> bool:
        path = path.rstrip("/") or "/"
        return not any(
            method in methods.split("|") and re.fullmatch(pattern, path)
            for methods, pattern in self._KNOWN
        )

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, Any]:
        if self._is_unknown(method, path):
            raise _HTTPError(404, f"Not Found: {method} {path}")
        parts = path.strip("/").split("/")
        head = parts[0]
        if head == "info":
            return 200, self.info()
        if head == "runs":
            return self._route_runs(method, parts, headers, body)
        if head == "feedback":
            return self._route_feedback(method, parts, query, body)
        return self._route_sessions(method, parts, query, body)

    # runs

    def _route_runs(
        self, method: str, parts: list[str], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        if len(parts) == 1:  # POST /runs
            self._apply_run("post", _json(body))
            return 202, {}
        sub = parts[1]
        if method == "POST" and sub == "multipart":
            self._ingest_multipart(headers, body)
            return 202, {}
        if method == "POST" and sub == "batch":
            payload = _json(body)
            for op in ("post", "patch"):
                for run in payload.get(op) or []:
                    self._apply_run(op, run)
            return 202, {}
        if method == "POST" and sub == "query":
            return 200, self._runs_query(_json(body))
        run_id = _norm_id(sub)
        if method == "PATCH":
            self._apply_run("patch", {**_json(body), "id": run_id})
            return 202, {}
        with self.lock:
            run = self.runs.get(run_id or "")
            if run is None:
                raise _HTTPError(404, f"run {sub} not found")
            return 200, _public_run(run)

    def _ingest_multipart(self, headers: dict[str, str], body: bytes) -> None:
        encoding = (headers.get("content-encoding") or "").lower()
        if encoding == "zstd":
            try:
                import zstandard
            except ImportError as exc:  # pragma: no cover - zstandard ships with the dev env
                raise _HTTPError(415, "zstd body but zstandard is not installed") from exc
            body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        elif encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding not in ("", "identity"):
            raise _HTTPError(415, f"unsupported Content-Encoding {encoding!r}")
        ops: dict[tuple[str, str], dict[str, Any]] = {}
        order: list[tuple[str, str]] = []
        feedback: list[dict[str, Any]] = []
        for name, content_type, data in parse_multipart(body, headers.get("content-type", "")):
            kind, _, rest = name.partition(".")
            if kind in ("post", "patch"):
                run_id, _, fld = rest.partition(".")
                key = (kind, run_id)
                if key not in ops:
                    ops[key] = {"id": run_id}
                    order.append(key)
                if not fld:
                    ops[key].update(_json(data))
                elif fld in _RUN_PART_FIELDS:
                    ops[key][fld] = _json(data)
                else:
                    raise _HTTPError(422, f"unknown run part {name!r}")
            elif kind == "attachment":
                run_id, _, att_name = rest.partition(".")
                with self.lock:
                    self.attachments.setdefault(_norm_id(run_id) or run_id, {})[att_name] = (
                        content_type,
                        data,
                    )
            elif kind == "feedback":
                feedback.append({"id": rest, **_json(data)})
            else:
                raise _HTTPError(422, f"unknown multipart part {name!r}")
        # Like the real service: creates before updates within one request.
        for key in sorted(order, key=lambda k: k[0] != "post"):
            self._apply_run(key[0], ops[key])
        for fb in feedback:
            self._apply_feedback(fb)

    def _runs_query(self, body: dict[str, Any]) -> dict[str, Any]:
        limit = body.get("limit") or self.page_size
        offset = int(body.get("cursor") or 0)
        matches = self.query_runs(**body)
        page = matches[offset : offset + limit]
        more = offset + limit < len(matches)
        return {"runs": page, "cursors": {"next": str(offset + limit) if more else None}}

    # feedback

    def _route_feedback(
        self, method: str, parts: list[str], query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any]:
        if len(parts) == 1:
            if method == "POST":
                return 200, self._apply_feedback(_json(body))
            runs = {_norm_id(r) for r in query.get("run", [])}
            keys = set(query.get("key", []))
            sources = set(query.get("source", []))
            with self.lock:
                items = [
                    f
                    for f in self.feedback
                    if (not runs or f.get("run_id") in runs)
                    and (not keys or f.get("key") in keys)
                    and (not sources or (f.get("feedback_source") or {}).get("type") in sources)
                ]
            offset = int(query.get("offset", ["0"])[0])
            limit = int(query.get("limit", ["100"])[0])
            return 200, items[offset : offset + limit]
        fb_id = _norm_id(parts[1])
        with self.lock:
            found = next((f for f in self.feedback if f["id"] == fb_id), None)
            if found is None:
                raise _HTTPError(404, f"feedback {parts[1]} not found")
            if method == "DELETE":
                self.feedback.remove(found)
                return 200, {}
            if method == "PATCH":
                found.update(_json(body))
                found["modified_at"] = _now()
            return 200, found

    # sessions (projects)

    def _route_sessions(
        self, method: str, parts: list[str], query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any]:
        if len(parts) == 1:
            if method == "POST":
                payload = _json(body)
                name = payload.get("name") or f"project-{uuid.uuid4().hex[:8]}"
                upsert = query.get("upsert", ["false"])[0].lower() == "true"
                with self.lock:
                    if name in self.projects and not upsert:
                        raise _HTTPError(409, f"project {name!r} already exists")
                    proj = self.projects.get(name) or _new_project(
                        name, project_id=_norm_id(payload.get("id"))
                    )
                    for key in ("description", "extra", "reference_dataset_id", "start_time"):
                        if payload.get(key) is not None:
                            proj[key] = payload[key]
                    self.projects[name] = proj
                    return 200, proj
            names = set(query.get("name", []))
            contains = query.get("name_contains", [None])[0]
            ids = {_norm_id(i) for i in query.get("id", [])}
            with self.lock:
                items = [
                    p
                    for p in self.projects.values()
                    if (not names or p["name"] in names)
                    and (contains is None or contains in p["name"])
                    and (not ids or p["id"] in ids)
                ]
            offset = int(query.get("offset", ["0"])[0])
            limit = int(query.get("limit", ["100"])[0])
            return 200, [self._with_stats(p) for p in items[offset : offset + limit]]
        project_id = _norm_id(parts[1])
        with self.lock:
            proj = next((p for p in self.projects.values() if p["id"] == project_id), None)
            if proj is None:
                raise _HTTPError(404, f"project {parts[1]} not found")
            if method == "DELETE":
                del self.projects[proj["name"]]
                return 200, {}
            if method == "PATCH":
                payload = _json(body)
                for key in ("description", "extra", "end_time", "name"):
                    if key in payload:
                        proj[key] = payload[key]
                if proj["name"] not in self.projects:
                    self.projects = {
                        p["name"]: p for p in self.projects.values() if p["id"] != proj["id"]
                    } | {proj["name"]: proj}
            return 200, self._with_stats(proj)

    def _with_stats(self, proj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            count = sum(1 for r in self.runs.values() if r.get("session_id") == proj["id"])
        return {**proj, "run_count": count}


def _new_project(name: str, *, project_id: str | None = None) -> dict[str, Any]:
    return {
        "id": project_id or str(uuid.uuid4()),
        "name": name,
        "start_time": _now(),
        "end_time": None,
        "description": None,
        "extra": None,
        "tenant_id": TENANT_ID,
        "reference_dataset_id": None,
        "last_run_start_time": None,
    }


def _run_sort_key(run: dict[str, Any]) -> tuple[str, str]:
    return (str(run.get("start_time") or ""), str(run.get("dotted_order") or ""))


def _public_run(run: dict[str, Any]) -> dict[str, Any]:
    """A run as the API returns it (``Client`` builds ``schemas.Run(attachments=..., **run)``)."""
    out = {k: v for k, v in run.items() if k not in ("attachments", "is_root", "address")}
    out.setdefault("inputs", {})
    out.setdefault("outputs", None)
    out.setdefault("extra", {})
    out["s3_urls"] = {}
    return out


def _json(data: bytes) -> Any:
    if not data:
        return {}
    try:
        return json.loads(data)
    except ValueError as exc:
        raise _HTTPError(422, f"invalid JSON: {exc}") from exc
