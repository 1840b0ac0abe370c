"""Timeouts are right on Python 3.10 to 3.13: on 3.10 ``asyncio.wait_for`` raises
``asyncio.TimeoutError``, a class of its own there (the builtin ``TimeoutError`` from 3.11),
and an async deadline must still mask the slow futures instead of raising."""

from __future__ import annotations

import asyncio
import sys

import pytest

from langgraph_collab import ascore_candidates
from langgraph_collab.errors import is_budget_cut, is_transient
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import MetadataModel
from tests.test_adaptive import CANDIDATES, HISTORY, TASK, quality_judge


class AsyncioTimeoutError(Exception):
    """Python 3.10's ``asyncio.TimeoutError``: not a subclass of the builtin one."""


@pytest.fixture
def python_310_timeouts(monkeypatch):
    """On 3.11+, make ``asyncio`` behave as on 3.10: ``asyncio.TimeoutError`` a distinct
    class, and the one ``asyncio.wait_for`` raises. On 3.10 itself: nothing to change."""
    if sys.version_info < (3, 11):
        assert not issubclass(asyncio.TimeoutError, TimeoutError)
        return
    wait_for = asyncio.wait_for

    async def wait_for_310(awaitable, timeout):
        try:
            return await wait_for(awaitable, timeout)
        except TimeoutError as error:
            raise AsyncioTimeoutError() from error

    monkeypatch.setattr(asyncio, "TimeoutError", AsyncioTimeoutError)
    monkeypatch.setattr(asyncio, "wait_for", wait_for_310)


def test_an_async_deadline_masks_the_slow_future_on_the_310_path(python_310_timeouts):
    async def run() -> list:
        user = MetadataModel(  # sample 1 hangs: it waits until the deadline
            reply=lambda m: None if m["sample_index"] == 1 else "Could you say more?"
        )
        return await ascore_candidates(
            HISTORY, CANDIDATES[:1], task=TASK, samples=2, window=1, timeout=1.0,
            user=user, assistant=ScriptedChatModel(script=["Here is more."]),
            judge=quality_judge([1.0]),
        )  # fmt: skip

    [reward] = asyncio.run(run())
    assert (reward.n_valid, reward.n_failed) == (1, 1) and reward.mean is not None
    [cut] = [s for s in reward.samples if s.error]
    assert cut.sample_index == 1 and is_budget_cut(cut.error)


def test_asyncio_timeouts_are_transient_on_every_version():
    assert is_transient(asyncio.TimeoutError()) and is_transient(TimeoutError())
