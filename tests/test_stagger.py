"""Forward samples start in turn (``_stagger``): the line always moves on."""

from __future__ import annotations

import asyncio

import pytest

from langgraph_collab._runtime.stagger import in_turn, leave_line


async def _queue(order: list[str], name: str) -> None:
    async with in_turn():
        order.append(name)


def test_a_future_that_fails_in_start_up_lets_the_next_one_start():
    order: list[str] = []

    async def failing() -> None:
        async with in_turn():
            raise RuntimeError("start-up failed")

    async def main() -> list:
        return await asyncio.gather(failing(), _queue(order, "next"), return_exceptions=True)

    results = asyncio.run(main())
    assert isinstance(results[0], RuntimeError) and order == ["next"]


def test_a_future_cancelled_in_line_does_not_hold_it():
    order: list[str] = []

    async def main() -> None:
        release = asyncio.Event()

        async def holder() -> None:
            async with in_turn():
                order.append("holder")
                await release.wait()
                leave_line()
                order.append("holder calls")

        first = asyncio.ensure_future(holder())
        await asyncio.sleep(0)  # the holder takes the line
        cancelled = asyncio.ensure_future(_queue(order, "cancelled"))
        last = asyncio.ensure_future(_queue(order, "last"))
        await asyncio.sleep(0)  # both wait in line
        cancelled.cancel()
        release.set()
        await asyncio.gather(first, last)
        with pytest.raises(asyncio.CancelledError):
            await cancelled

    asyncio.run(main())
    assert order == ["holder", "holder calls", "last"]


def test_a_role_on_another_loop_can_end_the_start_up():
    order: list[str] = []

    async def main() -> None:
        entered = asyncio.Event()

        async def holder() -> None:
            async with in_turn():
                order.append("holder")

                async def elsewhere() -> None:  # e.g. a sync role that runs its own loop
                    leave_line()

                await asyncio.to_thread(asyncio.run, elsewhere())  # the context goes along
                await entered.wait()  # still in its block: the next one started meanwhile
                order.append("holder ends")

        async def after() -> None:
            async with in_turn():
                order.append("next")
                entered.set()

        # A line that stayed held would hang here: fail instead.
        await asyncio.wait_for(asyncio.gather(holder(), after()), timeout=60)

    asyncio.run(main())
    assert order == ["holder", "next", "holder ends"]


def test_leaving_twice_or_outside_a_line_does_nothing():
    leave_line()

    async def main() -> list[str]:
        order: list[str] = []
        async with in_turn():
            leave_line()
            leave_line()
        await _queue(order, "after")
        return order

    assert asyncio.run(main()) == ["after"]
