"""Long runs keep start-up objects out of the garbage collector's passes, and hand them
back when they end (``langgraph_collab._heap``)."""

import gc

import pytest

from langgraph_collab._heap import AT_IMPORT, frozen_heap
from langgraph_collab.collect import collect
from langgraph_collab.tasks import load_tasks
from langgraph_collab.testing import ScriptedChatModel
from tests.conftest import make_judge, make_user


def test_collect_freezes_start_up_objects_while_it_runs_and_hands_them_back(tmp_path):
    seen: list[bool] = []

    def assistant_script(messages) -> str:
        if not seen:  # counting frozen objects walks them all: once is enough
            seen.append(gc.get_freeze_count() > AT_IMPORT)
        return "Here is the answer: 4"

    collect(
        load_tasks("math", limit=1),
        user=make_user(stop_after=1),
        assistant=ScriptedChatModel(script=assistant_script),
        judge=make_judge(),
        out_dir=tmp_path,
        candidates=2,
        samples=1,
        window=1,
        progress=False,
    )
    assert seen == [True]
    assert gc.get_freeze_count() <= AT_IMPORT


def test_a_process_that_froze_objects_itself_keeps_its_choice():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with frozen_heap():
            assert gc.get_freeze_count() == frozen
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_the_heap_is_handed_back_when_the_block_raises():
    with pytest.raises(KeyError), frozen_heap():
        raise KeyError("boom")
    assert gc.get_freeze_count() <= AT_IMPORT


def test_nothing_is_frozen_when_the_collector_is_off():
    gc.disable()
    try:
        with frozen_heap():
            assert gc.get_freeze_count() <= AT_IMPORT
    finally:
        gc.enable()
