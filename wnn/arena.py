"""Pages of per-pair columns shared by every network of a process: a user's pairs, and the room for what is derived
from them, without an array object per user per column.

A network holds one *block*: ``capacity`` rows of every column, at ``offset`` in one :class:`Page`. Blocks come in
powers of two, and each page holds blocks of one size only (a slab), so a released block is reused by the next
network that needs that size, and no page is ever moved or resized: a view of a block stays a view of that block
until the block is released. A block too large for a page gets a page of its own, dropped when it is released.

Why: seven small arrays per network cost about 1 KB of array objects and allocator headers whatever the pairs; a user
with one rating held 2.8 KB in the worker's cache, most of it that. In a block, a row costs its columns' bytes.

A slab page, once made, is kept for later blocks of its size: the arena holds the process's peak (which the user
cache's byte budget bounds), not less. Like the rest of the model it is used from one thread and takes no lock.

>>> import numpy as np
>>> arena = ColumnArena({"a": np.int64, "b": np.float32})
>>> page, offset = arena.allocate(3)
>>> page.block_rows, arena.rows_in_use
(4, 4)
>>> page.columns["a"][offset : offset + 3] = [1, 2, 3]
>>> arena.release(page, offset)
>>> arena.rows_in_use
0
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: Rows a page of small blocks grows to: a page's columns are allocated at once, so a process with few networks
#: should not pay for many. The first page of a size holds 16 blocks; each next one twice as many, up to this.
PAGE_ROWS = 1 << 15
_FIRST_PAGE_BLOCKS = 16
#: The smallest block: a network of one pair.
MIN_BLOCK_ROWS = 2


def block_rows(rows: int) -> int:
    """The block size that holds ``rows`` rows: the next power of two (at least :data:`MIN_BLOCK_ROWS`)."""
    return max(MIN_BLOCK_ROWS, 1 << max(0, rows - 1).bit_length())


class Page:
    """Blocks of ``block_rows`` rows of every column: ``columns[name][offset : offset + block_rows]`` is one block."""

    __slots__ = ("block_rows", "columns", "free", "fresh", "rows")

    def __init__(self, dtypes: Mapping[str, type], block_rows: int, blocks: int) -> None:
        self.block_rows = block_rows
        self.rows = block_rows * blocks
        self.columns: dict[str, np.ndarray] = {name: np.zeros(self.rows, dtype=dtype) for name, dtype in dtypes.items()}
        self.fresh = 0  # rows from here on were never handed out (still zeros)
        self.free: list[int] = []  # offsets of released blocks

    def has_room(self) -> bool:
        return bool(self.free) or self.fresh < self.rows


class ColumnArena:
    """Slabs of blocks of the columns ``dtypes`` (name -> numpy dtype)."""

    __slots__ = ("_pages", "dtypes", "empty", "poison_released", "row_bytes", "rows_in_use")

    def __init__(self, dtypes: Mapping[str, type]) -> None:
        self.dtypes = dict(dtypes)
        self.row_bytes = sum(np.dtype(dtype).itemsize for dtype in self.dtypes.values())
        self._pages: dict[int, list[Page]] = {}  # block size -> its pages, the one with room last
        self.rows_in_use = 0
        #: The page of a network without pairs: blocks of no rows (never allocated from, never released to).
        self.empty = Page(self.dtypes, 0, 0)
        #: Fill a released block with 0x5A bytes (the tests set it): a view kept past its log's life then reads
        #: wild values instead of, silently, another network's pairs.
        self.poison_released = False

    def allocate(self, rows: int) -> tuple[Page, int]:
        """A block of at least ``rows`` rows, zeroed: its page and offset."""
        size = block_rows(rows)
        self.rows_in_use += size
        if size >= PAGE_ROWS:
            return Page(self.dtypes, size, 1), 0  # a page of its own, dropped with the block
        pages = self._pages.setdefault(size, [])
        if not pages or not pages[-1].has_room():
            freed = next((i for i, page in enumerate(pages) if page.free), None)
            if freed is not None:  # a page with released blocks goes last, to be allocated from
                pages.append(pages.pop(freed))
            else:
                blocks = min(PAGE_ROWS // size, _FIRST_PAGE_BLOCKS << len(pages))
                pages.append(Page(self.dtypes, size, blocks))
        page = pages[-1]
        if page.free:
            offset = page.free.pop()
            for column in page.columns.values():
                column[offset : offset + size] = 0
        else:
            offset, page.fresh = page.fresh, page.fresh + size
        return page, offset

    def release(self, page: Page, offset: int) -> None:
        """Give a block back (its rows are reused by a later :meth:`allocate`)."""
        if page.block_rows == 0:
            return
        self.rows_in_use -= page.block_rows
        if self.poison_released:
            for column in page.columns.values():
                column[offset : offset + page.block_rows].view(np.uint8)[:] = 0x5A
        if page.block_rows < PAGE_ROWS:  # a slab page; a large block's own page goes with the log that held it
            page.free.append(offset)

    @property
    def bytes_in_use(self) -> int:
        """What the blocks handed out hold: their rows times the row's bytes."""
        return self.rows_in_use * self.row_bytes

    @property
    def bytes_reserved(self) -> int:
        """What the pages hold, handed out or not (the pages of large blocks are dropped with them)."""
        return sum(page.rows for pages in self._pages.values() for page in pages) * self.row_bytes
