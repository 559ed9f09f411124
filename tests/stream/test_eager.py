"""A coroutine run eagerly behaves as it does under an asyncio task: value, exception, waits and cancellation."""

import asyncio

import pytest

from stream import eager


async def value(x):
    return x


async def fails():
    raise KeyError("first step")


def test_a_coroutine_that_does_not_wait_finishes_in_the_call_without_a_loop():
    assert eager.start(value(3)) == (True, 3)


def test_an_exception_of_the_first_step_propagates():
    with pytest.raises(KeyError, match="first step"):
        eager.start(fails())


async def test_what_is_left_after_a_wait_runs_when_awaited():
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    steps = []

    async def waits():
        steps.append("before")
        got = await future
        await asyncio.sleep(0)  # a bare yield to the loop, too
        steps.append("after")
        return got * 2

    finished, rest = eager.start(waits())
    assert not finished and steps == ["before"]
    loop.call_later(0.01, future.set_result, 21)
    assert await rest == 42 and steps == ["before", "after"]


async def test_an_exception_after_a_wait_propagates():
    loop = asyncio.get_running_loop()

    async def waits_then_fails(future):
        await future
        raise ValueError("second step")

    failing = loop.create_future()
    _, rest = eager.start(waits_then_fails(failing))
    failing.set_exception(OSError("the awaited failed"))
    with pytest.raises(OSError, match="the awaited failed"):
        await rest
    succeeding = loop.create_future()
    _, rest = eager.start(waits_then_fails(succeeding))
    succeeding.set_result(None)
    with pytest.raises(ValueError, match="second step"):
        await rest


async def test_cancelling_the_rest_cancels_what_it_waits_on_and_the_coroutine_sees_it():
    future = asyncio.get_running_loop().create_future()
    cleaned = []

    async def waits():
        try:
            await future
        finally:
            cleaned.append(True)

    _, rest = eager.start(waits())
    task = asyncio.ensure_future(rest)
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert future.cancelled() and cleaned == [True]


async def test_a_coroutine_may_catch_the_cancellation_and_return():
    future = asyncio.get_running_loop().create_future()

    async def waits():
        try:
            await future
        except asyncio.CancelledError:
            return "stopped"

    _, rest = eager.start(waits())
    task = asyncio.ensure_future(rest)
    await asyncio.sleep(0.01)
    task.cancel()
    assert await task == "stopped"
