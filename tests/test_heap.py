"""Long runs keep start-up objects out of the garbage collector's passes and hand back only
what they froze (``langgraph_collab._runtime.heap``): a process's own freeze, made before or
during a run, is never thawed, and nested or concurrent runs share one freeze."""

import gc
import threading

import pytest

from langgraph_collab._runtime.heap import frozen_heap
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import collect_scripted

WAIT_S = 120  # a guard against a hang, never a synchronisation


@pytest.fixture(autouse=True)
def nothing_frozen():
    """Each test starts and ends with nothing frozen (CPython 3.12 freezes a few hundred
    objects at start-up: thawed here, once, so that the rules can be seen)."""
    gc.unfreeze()
    yield
    assert gc.get_freeze_count() == 0


def run_collect(tmp_path, name: str, on_first_call) -> None:
    calls: list[int] = []

    def assistant_script(messages) -> str:
        if not calls:
            calls.append(1)
            on_first_call()
        return "Here is the answer: 4"

    collect_scripted(tmp_path / name, assistant=ScriptedChatModel(script=assistant_script))


def test_collect_freezes_start_up_objects_while_it_runs_and_hands_them_back(tmp_path):
    seen: list[int] = []
    run_collect(tmp_path, "one", lambda: seen.append(gc.get_freeze_count()))
    assert seen and seen[0] > 0
    assert gc.get_freeze_count() == 0


def test_a_process_that_froze_first_keeps_its_freeze(tmp_path):
    gc.freeze()
    frozen = gc.get_freeze_count()
    seen: list[int] = []
    run_collect(tmp_path, "one", lambda: seen.append(gc.get_freeze_count()))
    assert 0 < seen[0] <= frozen  # collect froze nothing more (frozen objects freed leave)
    assert 0 < gc.get_freeze_count() <= frozen  # and thawed nothing of the process's
    gc.unfreeze()


def test_a_freeze_made_while_the_block_runs_is_the_processes_to_undo():
    with frozen_heap():
        gc.freeze()  # e.g. a server's start-up finishing in another thread
    assert gc.get_freeze_count() > 0
    gc.unfreeze()


def test_nested_blocks_share_the_outer_freeze():
    with frozen_heap():
        outer = gc.get_freeze_count()
        assert outer > 0
        with frozen_heap():
            assert gc.get_freeze_count() == outer
        assert gc.get_freeze_count() == outer  # the inner end thawed nothing
    assert gc.get_freeze_count() == 0


def test_two_concurrent_collects_keep_the_freeze_until_the_last_ends(tmp_path):
    first_in, first_done = threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def first_call() -> None:
        first_in.set()

    def second_call() -> None:
        assert first_done.wait(WAIT_S)  # the first collect has ended meanwhile
        seen["after the first ended"] = gc.get_freeze_count()

    def first() -> None:
        run_collect(tmp_path, "first", first_call)
        first_done.set()

    def second() -> None:
        assert first_in.wait(WAIT_S)  # starts while the first runs
        run_collect(tmp_path, "second", second_call)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert seen["after the first ended"] > 0  # the first's end did not thaw the second's
    assert gc.get_freeze_count() == 0  # the last to end thawed


def test_the_heap_is_handed_back_when_the_block_raises():
    with pytest.raises(KeyError), frozen_heap():
        raise KeyError("boom")
    assert gc.get_freeze_count() == 0


def test_nothing_is_frozen_when_the_collector_is_off():
    gc.disable()
    try:
        with frozen_heap():
            assert gc.get_freeze_count() == 0
    finally:
        gc.enable()
