"""The delivery pipeline: input is marked processed only as a prefix of batches whose outputs are all delivered."""

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from stream.delivery import DeliveryPipeline


class Recorder:
    def __init__(self, depth=8):
        self.marked: list[tuple[int, int]] = []
        self.failures: list[BaseException] = []
        self.pipeline = DeliveryPipeline(lambda p, o: self.marked.append((p, o)), self.failures.append, depth)


def futures(n):
    loop = asyncio.get_running_loop()
    return [loop.create_future() for _ in range(n)]


async def settle():
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_batch_is_marked_only_after_every_earlier_batch():
    r = Recorder()
    a, b, c = futures(1), futures(2), futures(1)
    r.pipeline.add({0: 10}, a)
    r.pipeline.add({0: 20, 1: 7}, b)
    r.pipeline.add({1: 9}, c)
    c[0].set_result(None)
    b[0].set_result(None)
    await settle()
    assert r.marked == [] and r.pipeline.in_flight == 3
    a[0].set_result(None)
    await settle()
    assert r.marked == [(0, 10)]  # b still has an output on its way
    b[1].set_result(None)
    await settle()
    assert r.marked == [(0, 10), (0, 20), (1, 7), (1, 9)] and r.pipeline.in_flight == 0


async def test_a_batch_without_outputs_is_marked_in_its_turn():
    r = Recorder()
    a = futures(1)
    r.pipeline.add({0: 5}, a)
    r.pipeline.add({0: 6}, [])
    assert r.marked == []
    a[0].set_result(None)
    await settle()
    assert r.marked == [(0, 5), (0, 6)]
    r.pipeline.add({1: 3}, [])
    assert r.marked[-1] == (1, 3)


async def test_a_failed_delivery_marks_nothing_after_it_and_halts_until_resumed():
    """Batch k fails after k+1 was processed (and even delivered): neither is marked; the worker reads again from
    the last marked offsets, and only then does the pipeline track batches again."""
    r = Recorder()
    k0, k1, k2 = futures(1), futures(1), futures(1)
    r.pipeline.add({0: 10}, k0)
    r.pipeline.add({0: 20}, k1)
    r.pipeline.add({0: 30}, k2)
    k0[0].set_result(None)
    k2[0].set_result(None)
    await settle()
    k1[0].set_exception(TimeoutError("broker gone"))
    await settle()
    assert r.marked == [(0, 10)]
    assert len(r.failures) == 1 and isinstance(r.failures[0], TimeoutError)
    assert r.pipeline.halted and r.pipeline.in_flight == 0
    late = futures(1)
    r.pipeline.add({0: 40}, late)  # processed before the read-again began: its input comes again
    late[0].set_result(None)
    await settle()
    assert r.marked == [(0, 10)] and r.pipeline.in_flight == 0
    r.pipeline.resume()
    again = futures(1)
    r.pipeline.add({0: 20}, again)
    again[0].set_result(None)
    await settle()
    assert r.marked == [(0, 10), (0, 20)]


async def test_a_reset_voids_the_batches_in_flight():
    r = Recorder()
    a = futures(1)
    r.pipeline.add({0: 10}, a)
    r.pipeline.reset()
    a[0].set_result(None)
    await settle()
    assert r.marked == [] and not r.failures


async def test_the_agent_waits_for_room_beyond_the_depth():
    r = Recorder(depth=1)
    a, b = futures(1), futures(1)
    r.pipeline.add({0: 1}, a)
    await asyncio.wait_for(r.pipeline.wait_for_room(), 1)  # one in flight: room
    r.pipeline.add({0: 2}, b)
    waiting = asyncio.ensure_future(r.pipeline.wait_for_room())
    await settle()
    assert not waiting.done()
    a[0].set_result(None)
    await asyncio.wait_for(waiting, 1)


async def test_depth_zero_waits_for_each_batch():
    r = Recorder(depth=0)
    a = futures(1)
    r.pipeline.add({0: 1}, a)
    waiting = asyncio.ensure_future(r.pipeline.wait_for_room())
    await settle()
    assert not waiting.done()
    a[0].set_result(None)
    await asyncio.wait_for(waiting, 1)
    assert r.marked == [(0, 1)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_marks_are_always_a_prefix_of_fully_delivered_batches(outputs_per_batch, rng):
    async def run():
        r = Recorder(depth=100)
        batches = []
        for index, n in enumerate(outputs_per_batch):
            fs = futures(n)
            r.pipeline.add({0: index + 1}, fs)
            batches.append(fs)
        pending = [f for fs in batches for f in fs]
        rng.shuffle(pending)
        for future in pending:
            future.set_result(None)
            await settle()
            done = 0
            while done < len(batches) and all(f.done() for f in batches[done]):
                done += 1
            assert r.marked == [(0, i + 1) for i in range(done)]

    asyncio.run(run())
