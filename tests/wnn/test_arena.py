"""The column arena and the pair logs that live in it: blocks are sized, reused, zeroed and accounted for, and a log
in blocks that move as it grows, shrinks, is copied and dropped holds exactly what plain lists would."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wnn.arena import PAGE_ROWS, ColumnArena, block_rows
from wnn.pairs import ARENA, PairLog


def arena() -> ColumnArena:
    return ColumnArena({"a": np.int64, "b": np.float32})


@pytest.mark.parametrize(("rows", "size"), [(0, 2), (1, 2), (2, 2), (3, 4), (64, 64), (65, 128)])
def test_a_block_is_the_next_power_of_two_of_at_least_two_rows(rows, size):
    assert block_rows(rows) == size


def test_a_released_block_is_reused_zeroed_and_counted_once():
    columns = arena()
    page, offset = columns.allocate(3)
    assert columns.rows_in_use == 4 and columns.bytes_in_use == 4 * (8 + 4)
    page.columns["a"][offset : offset + 4] = 7
    columns.release(page, offset)
    assert columns.rows_in_use == 0
    again, again_offset = columns.allocate(4)
    assert (again, again_offset) == (page, offset)
    assert not again.columns["a"][again_offset : again_offset + 4].any()


def test_blocks_of_one_page_do_not_overlap_and_pages_grow():
    columns = arena()
    blocks = [columns.allocate(2) for _ in range(100)]
    rows = {(id(page), offset + r) for page, offset in blocks for r in range(2)}
    assert len(rows) == 200
    assert columns.bytes_reserved >= columns.bytes_in_use == 200 * 12


def test_a_block_larger_than_a_page_has_a_page_of_its_own_dropped_with_it():
    columns = arena()
    page, offset = columns.allocate(PAGE_ROWS + 1)
    assert offset == 0 and page.rows == page.block_rows == 2 * PAGE_ROWS
    assert columns.bytes_reserved == 0  # not kept among the slabs
    columns.release(page, offset)
    assert columns.rows_in_use == 0 and not page.free


def test_a_released_block_is_poisoned_when_asked():
    columns = arena()
    columns.poison_released = True
    page, offset = columns.allocate(2)
    view = page.columns["a"][offset : offset + 2]
    columns.release(page, offset)
    assert (view.view(np.uint8) == 0x5A).all()


def test_a_dropped_log_gives_its_block_back():
    before = ARENA.rows_in_use
    log = PairLog()
    for e in range(5):
        log.append(e, e, str(e), 3.0, e)
    assert ARENA.rows_in_use == before + 8
    del log
    assert ARENA.rows_in_use == before


def test_a_copy_has_a_block_of_its_own_and_keeps_the_derived_columns():
    log = PairLog()
    for e in range(3):
        log.append(e, e, str(e), 4.0, e)
    log.column("units")[:] = [5, 6, 7]
    twin = copy.deepcopy(log)
    log.column("units")[:] = 0
    assert twin.column("units").tolist() == [5, 6, 7]
    assert twin.listing() == log.listing() and twin.rating_total == log.rating_total


operation = st.one_of(
    st.tuples(st.just("append"), st.integers(1, 40)),
    st.tuples(st.just("delete"), st.lists(st.integers(0, 200), min_size=1, max_size=30)),
    st.tuples(st.just("copy"), st.just(0)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(operation, min_size=1, max_size=25))
def test_logs_in_moving_blocks_hold_exactly_what_lists_hold(operations):
    """Two logs interleaved (so their blocks move around each other) against plain lists of rows."""
    logs, models, next_id = [PairLog(), PairLog()], [[], []], 0
    for step, (op, arg) in enumerate(operations):
        k = step % 2
        log, model = logs[k], models[k]
        if op == "append":
            for _ in range(arg):
                row = (next_id, next_id % 13, 1.0 + next_id % 5, 10 * next_id, next_id % 7)
                log.append(row[0], row[1], str(row[1]), row[2], row[3])
                log.column("units")[-1] = row[4]  # a derived column travels with its pair
                model.append(row)
                next_id += 1
        elif op == "delete" and model:
            positions = sorted({p % len(model) for p in arg})
            log.delete(positions)
            models[k] = model = [row for p, row in enumerate(model) if p not in set(positions)]
        elif op == "copy":
            logs[k] = log = copy.deepcopy(log)  # the old log is dropped: its block goes back to the arena
        for log, model in zip(logs, models):
            assert log.n == len(model) <= log.capacity
            assert log.event_ids.tolist() == [row[0] for row in model]
            assert log.items.tolist() == [row[1] for row in model]
            assert log.ratings.tolist() == [row[2] for row in model]
            assert log.ts.tolist() == [row[3] for row in model]
            assert log.column("units").tolist() == [row[4] for row in model]
            assert log.keys == [str(row[1]) for row in model]
            # Room for what it holds, at most twice what its pairs need; none without pairs.
            assert log.capacity <= 2 * block_rows(log.n) if model else log.capacity == 0
