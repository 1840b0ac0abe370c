"""Errors are classified: transient ones retried with backoff (and masked only when they
outlive it), permanent ones raised at once naming the role and model, systematic failures
raised as ScoringError. Real openai/httpx errors come from a loopback OpenAI-compatible
server (tests/fake_openai.py)."""

from __future__ import annotations

import asyncio
import random
import threading

import httpx
import openai
import pytest

from langgraph_collab import (
    PermanentError,
    ScoringError,
    Task,
    TransientFailure,
    create_assistant,
    create_judge,
    create_simulated_user,
    score_candidates,
)
from langgraph_collab.errors import (
    Backoff,
    MalformedReply,
    check_failures,
    is_transient,
    retry_after,
    status_of,
)
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import (
    collect_scripted,
    make_assistant,
    make_judge,
    make_user,
    scripted_reply,
)
from tests.fake_openai import FakeOpenAI, Reply, role_of

FAST = Backoff(base=0.002, cap=0.01)
CONVERSATION = [("user", "What is 2 + 2?")]


class RecordingBackoff(Backoff):
    """A fast backoff that records each wait it decides: (attempt, the error's HTTP status
    or else its type, seconds)."""

    def __init__(self) -> None:
        super().__init__(base=0.004, cap=0.02)
        object.__setattr__(self, "waits", [])
        object.__setattr__(self, "lock", threading.Lock())

    def delay(self, attempt: int, error: BaseException) -> float:
        seconds = super().delay(attempt, error)
        with self.lock:
            self.waits.append((attempt, status_of(error) or type(error).__name__, seconds))
        return seconds


def _response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    return httpx.Response(status, headers=headers or {}, request=request)


def _status_error(cls: type, status: int, headers: dict[str, str] | None = None) -> Exception:
    return cls("boom", response=_response(status, headers), body=None)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_status_error(openai.AuthenticationError, 401), False),
        (_status_error(openai.PermissionDeniedError, 403), False),
        (_status_error(openai.BadRequestError, 400), False),
        (_status_error(openai.NotFoundError, 404), False),
        (_status_error(openai.UnprocessableEntityError, 422), False),
        (_status_error(openai.RateLimitError, 429), True),
        (_status_error(openai.InternalServerError, 500), True),
        (_status_error(openai.InternalServerError, 503), True),
        (openai.APIConnectionError(request=httpx.Request("POST", "http://x")), True),
        (openai.APITimeoutError(request=httpx.Request("POST", "http://x")), True),
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (ConnectionResetError("reset"), True),
        (TimeoutError("slow"), True),
        (MalformedReply("not json"), True),
        (TypeError("bug"), False),
        (KeyError("bug"), False),
        (ValueError("bug"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_errors_are_classified(error, transient):
    assert is_transient(error) is transient


def _anthropic_errors() -> list[tuple[Exception, bool]]:
    """The real Anthropic SDK's exceptions (its HTTP client is httpx2), as a call raises
    them with the SDK's own retries switched off."""
    anthropic = pytest.importorskip("anthropic")
    httpx2 = pytest.importorskip("httpx2")
    request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")

    def status(cls: type, code: int) -> Exception:
        return cls("boom", response=httpx2.Response(code, request=request), body=None)

    return [
        (status(anthropic.AuthenticationError, 401), False),
        (status(anthropic.PermissionDeniedError, 403), False),
        (status(anthropic.BadRequestError, 400), False),
        (status(anthropic.NotFoundError, 404), False),
        (status(anthropic.RateLimitError, 429), True),
        (status(anthropic.InternalServerError, 500), True),
        (status(anthropic.OverloadedError, 529), True),
        (anthropic.APIConnectionError(request=request), True),
        (anthropic.APITimeoutError(request=request), True),
        (httpx2.ConnectError("refused"), True),
    ]


def test_anthropic_errors_are_classified_like_the_others():
    for error, transient in _anthropic_errors():
        assert is_transient(error) is transient, type(error).__name__


def test_retry_after_is_honoured_and_backoff_grows():
    assert retry_after(_status_error(openai.RateLimitError, 429, {"retry-after": "3"})) == 3.0
    assert retry_after(_status_error(openai.RateLimitError, 429, {"retry-after-ms": "250"})) == 0.25
    backoff = Backoff(base=0.1, cap=100)
    waits = [backoff.delay(attempt, TimeoutError()) for attempt in range(5)]
    for attempt, wait in enumerate(waits):
        assert 0.1 * 2**attempt / 2 <= wait <= 0.1 * 2**attempt
    limited = _status_error(openai.RateLimitError, 429, {"retry-after": "7"})
    assert backoff.delay(0, limited) == 7.0
    assert Backoff(max_retry_after=2).delay(0, limited) == 2.0


def test_check_failures_raises_on_systematic_failure_only():
    check_failures("MR", [None, "judge: timeout", None, None])
    check_failures("MR", ["a", "b", "c", None, None, None])  # distinct, not all
    with pytest.raises(ScoringError, match="every one of 2"):
        check_failures("MR", ["user: 503", "user: 503"])
    with pytest.raises(ScoringError, match="same failure in 3 of 4") as raised:
        check_failures("MR", ["judge: 503", "judge: 503", None, "judge: 503"])
    assert raised.value.errors == {"judge: 503": 3}


def test_wrong_api_key_raises_at_once_naming_role_and_model(math_task):
    with FakeOpenAI(lambda body: Reply("Incorrect API key provided", status=401)) as server:
        model = server.model("gpt-test")
        with pytest.raises(PermanentError) as raised:
            score_candidates(
                CONVERSATION, ["4"], task=math_task, user=model, assistant=model, judge=model,
                samples=3, window=1,
            )  # fmt: skip
    message = str(raised.value)
    assert "gpt-test" in message and "AuthenticationError" in message
    assert raised.value.where in ("simulated_user", "assistant", "judge")
    assert isinstance(raised.value.__cause__, openai.AuthenticationError)
    assert len(server.requests) <= 3  # one per sample in flight at most, none retried


def test_a_model_spec_does_not_stack_sdk_retries_on_the_roles(math_task):
    from langgraph_collab import load_chat_model

    with FakeOpenAI(lambda body: Reply("overloaded", status=503)) as server:
        model = load_chat_model("openai:gpt-test", base_url=server.base_url, api_key="sk-x")
        user = create_simulated_user(model, retries=2, backoff=FAST)
        with pytest.raises(ScoringError) as raised:
            score_candidates(
                CONVERSATION, ["4"], task=math_task, user=user, assistant=make_assistant(),
                judge=make_judge(), samples=2, window=1,
            )  # fmt: skip
    assert "every one of 2 samples failed" in str(raised.value)
    assert "503" in str(raised.value) and "after 3 attempts" in str(raised.value)
    assert len(server.requests) == 2 * 3  # 2 samples x (1 + 2 retries): no SDK retries on top


def test_sdk_that_retries_itself_is_not_retried_again(math_task):
    with FakeOpenAI(lambda body: Reply("overloaded", status=503)) as server:
        model = server.model(max_retries=2)  # the SDK retries twice itself
        user = create_simulated_user(model, retries=2, backoff=FAST)
        with pytest.raises(ScoringError):
            score_candidates(
                CONVERSATION, ["4"], task=math_task, user=user, assistant=make_assistant(),
                judge=make_judge(), samples=1, window=1,
            )  # fmt: skip
    assert len(server.requests) == 3  # the SDK's 1 + 2, not 3 x 3


def test_type_error_in_a_callable_raises_at_once(math_task):
    calls = []

    def broken_user(state):
        calls.append(1)
        return state["no such key"]

    with pytest.raises(PermanentError, match=r"simulated_user.*KeyError") as raised:
        score_candidates(
            CONVERSATION, ["4"], task=math_task, user=broken_user, assistant=make_assistant(),
            judge=make_judge(), samples=3, window=1,
        )  # fmt: skip
    assert raised.value.model == "broken_user"
    assert len(calls) <= 3  # never retried


def test_broken_judge_callable_and_metric_raise(math_task):
    with pytest.raises(PermanentError, match="judge"):
        score_candidates(
            CONVERSATION, ["4"], task=math_task, user=make_user(stop_after=1),
            assistant=make_assistant(), judge=lambda state: 1 / 0, samples=2, window=1,
        )  # fmt: skip

    def broken_metric(sample):
        return sample.no_such_attribute

    with pytest.raises(PermanentError, match=r"metric 'broken_metric'.*AttributeError"):
        score_candidates(
            CONVERSATION, ["4"], task=math_task, user=make_user(stop_after=1),
            assistant=make_assistant(), judge=make_judge(), metrics=[broken_metric],
            samples=2, window=1,
        )  # fmt: skip


def test_metric_error_masks_the_sample_and_counts_it(math_task):
    from langgraph_collab.reward.metrics import MetricError

    seen = []

    def flaky(sample):
        seen.append(1)
        if len(seen) == 1:
            raise MetricError("cannot score this one")
        return 1.0

    (reward,) = score_candidates(
        CONVERSATION, ["4"], task=math_task, user=make_user(stop_after=1),
        assistant=make_assistant(), judge=make_judge(), metrics=[flaky], samples=3, window=1,
        max_concurrency=1,
    )  # fmt: skip
    assert reward.n_failed == 1 and reward.mean is not None
    assert any("MetricError" in (s.error or "") for s in reward.samples)


def test_retry_after_and_backoff_gaps_are_observed(math_task):
    answers = iter([Reply("slow down", status=429, headers={"retry-after": "0.05"})])

    def responder(body):
        if role_of(body) == "simulated_user":
            return next(answers, None) or Reply("Bye [[TERMINATE CHAT]]")
        return scripted_reply(body, end_after=2)

    backoff = RecordingBackoff()
    with FakeOpenAI(responder) as server:
        user = create_simulated_user(server.model(), backoff=backoff)
        (reward,) = score_candidates(
            CONVERSATION, ["4"], task=math_task, user=user, assistant=make_assistant(),
            judge=make_judge(), samples=1, window=1,
        )  # fmt: skip
    assert reward.n_failed == 0
    assert backoff.waits == [(0, 429, 0.05)]
    first, second = (r for r in server.requests if role_of(r.body) == "simulated_user")
    assert second.at - first.at >= 0.05  # the retry waited at least what the server asked


def _faulty(rng: random.Random, lock: threading.Lock):
    """20% transient errors (429 / 500 / 503 / dropped connection, at random), and every
    20th judge request that gets through answered with a malformed reply (5%)."""
    judged = [0]

    def responder(body: dict) -> Reply:
        with lock:
            roll = rng.random()
            kind = rng.choice(["429", "500", "503", "drop"])
        if roll < 0.2:
            return Reply(drop=True) if kind == "drop" else Reply("transient", status=int(kind))
        if role_of(body) == "judge":
            with lock:
                judged[0] += 1
                malformed = judged[0] % 20 == 1
            if malformed:
                return Reply("I think the chat went fine, no JSON here.")
        return scripted_reply(body, end_after=2)

    return responder


def _masked_match_failures(rewards) -> None:
    for reward in rewards:
        outlived = [s for s in reward.samples if s.error and "attempts)" in s.error]
        assert reward.n_failed == len(outlived)  # masked only for failures past their retries


def test_fault_injection_over_score_candidates_completes(math_task):
    backoff = RecordingBackoff()
    with FakeOpenAI(_faulty(random.Random(7), threading.Lock())) as server:
        model = server.model()
        roles = dict(
            user=create_simulated_user(model, retries=3, backoff=backoff),
            assistant=create_assistant(model, retries=3, backoff=backoff),
            judge=create_judge(model, retries=3, backoff=backoff),
        )
        for _ in range(3):
            rewards = score_candidates(
                CONVERSATION, ["4", "Could you tell me more?"], task=math_task, samples=3,
                window=2, **roles,
            )  # fmt: skip
            _masked_match_failures(rewards)
            assert all(r.mean is not None for r in rewards)
    kinds = {kind for _, kind, _ in backoff.waits}
    assert len(kinds & {429, 500, 503}) >= 2, kinds
    assert kinds & {"APIConnectionError", "OpenAIConnectionError"}  # the dropped connections
    assert all(seconds > 0 for _, _, seconds in backoff.waits)
    assert len(server.requests) > 50
    assert any(r.reply.content.startswith("I think the chat") for r in server.requests)


def test_fault_injection_over_collect_completes_and_loses_nothing(tmp_path):
    from langgraph_collab.collection.collect import collect
    from langgraph_collab.collection.records import read_records
    from langgraph_collab.tasks import load_tasks

    tasks = load_tasks("math", limit=4)
    backoff = RecordingBackoff()
    with FakeOpenAI(_faulty(random.Random(11), threading.Lock())) as server:
        model = server.model()
        options = dict(
            user=create_simulated_user(model, retries=3, backoff=backoff),
            assistant=create_assistant(model, retries=3, backoff=backoff),
            judge=create_judge(model, retries=3, backoff=backoff),
            out_dir=tmp_path, candidates=2, samples=2, window=1, max_messages=6, progress=False,
        )  # fmt: skip
        first = collect(tasks, **options)
        again = collect(tasks, **options)  # retries whatever the first run left unrecorded
    records = read_records(tmp_path / "records.jsonl")
    assert sorted(r.task.id for r in records) == sorted(t.id for t in tasks)
    assert first.recorded + again.recorded == len(tasks)
    for record in records:
        for turn in record.turns:
            for candidate in turn.candidates:
                outlived = [s for s in candidate.samples if s.error and "attempts)" in s.error]
                assert candidate.n_failed == len(outlived)
    assert backoff.waits


def test_collect_raises_permanent_errors_and_records_nothing(tmp_path):
    from langgraph_collab.collection.collect import collect
    from langgraph_collab.tasks import load_tasks

    with FakeOpenAI(lambda body: Reply("Incorrect API key", status=401)) as server:
        with pytest.raises(PermanentError, match="AuthenticationError"):
            collect(
                load_tasks("math", limit=3), user=server.model(), assistant=make_assistant(),
                judge=make_judge(), out_dir=tmp_path, progress=False,
            )  # fmt: skip
        assert len(server.requests) <= 3
    assert not (tmp_path / "records.jsonl").exists()


def test_collect_stops_on_repeated_failures_then_a_rerun_retries_them(tmp_path):
    from langgraph_collab.collection.records import read_records
    from langgraph_collab.tasks import load_tasks

    tasks = load_tasks("math", limit=5)
    with FakeOpenAI(lambda body: Reply("down", status=503)) as server:
        down = create_assistant(server.model(), retries=1, backoff=FAST)
        with pytest.raises(ScoringError, match=r"same failure in 3 tasks.*503.*after 2 attempts"):
            collect_scripted(tmp_path, tasks, assistant=down, candidates=1, max_concurrent_tasks=1)
    assert not (tmp_path / "records.jsonl").exists()
    summary = collect_scripted(tmp_path, tasks, candidates=1)
    assert summary.recorded == 5 and summary.failed == 0
    assert len(read_records(tmp_path / "records.jsonl")) == 5


def test_a_candidate_string_is_not_scored_letter_by_letter(math_task):
    with pytest.raises(TypeError, match=r"list of replies.*\[reply\]"):
        score_candidates(
            CONVERSATION, "a reply", task=math_task, user=make_user(),
            assistant=make_assistant(), judge=make_judge(),
        )  # fmt: skip


async def test_sync_entry_points_work_inside_a_running_event_loop(tmp_path, math_task):
    from langgraph_collab import evaluate
    from langgraph_collab.tasks import load_tasks

    asyncio.get_running_loop()  # we are inside one, as in Jupyter
    tasks = load_tasks("math", limit=1)
    summary = collect_scripted(tmp_path, tasks, candidates=1)  # the sync collect
    assert summary.recorded == 1
    report = evaluate(
        tasks, assistants={"base": make_assistant()}, user=make_user(stop_after=1),
        judge=make_judge(), max_turns=1, progress=False,
    )  # fmt: skip
    assert report.rows and report.rows[0].failure is None


def test_transient_failure_names_role_model_and_attempts(math_task):
    model = ScriptedChatModel(script=[""])  # always empty: malformed every time
    user = create_simulated_user(model, retries=1, backoff=FAST)
    with pytest.raises(TransientFailure, match=r"simulated_user \(.*\).*after 2 attempts"):
        user.invoke({"messages": [], "task": math_task})


def test_task_type_errors_are_clear():
    from langgraph_collab.collection.collect import collect

    with pytest.raises(TypeError, match=r"list of langgraph_collab\.Task"):
        collect(Task(request="x"), user="local", assistant="local", judge="local", out_dir=".")
