"""The Z layer's counting memory: every RAM neuron's table cells, packed in one array per memory plane.

A cell holds the number of pairs written to it (``COUNT``), the sum of their residual ratings in integer units of
1/256 star (``RESIDUAL``) and the number of likes among them (``LIKES``), as 32-bit integers: every cell is an exact
sum, equal whatever order pairs were written, moved and removed in, up to 1.8 million pairs in one cell
(``max_pairs`` stays below; float32 cells would be exact only up to about 16,000, and float64 cells double the
memory, which the reads pay for in cache misses). Neuron ``n``'s block starts at ``layout.offsets[n]``; the neurons
that also
read the Q layer have one block of ``2**tuple_size`` cells per Q state, the others one block, and the bias neuron
(which reads no bits) one cell (:meth:`wnn.config.WNNConfig.neuron_offsets`).

>>> from wnn.config import WNNConfig
>>> memory = CountingMemory(WNNConfig())
>>> base = memory.layout.cells(np.zeros(64, dtype=np.int64), 0)
>>> memory.write(base, state=0, units=128, liked=True)
>>> memory.gather(base, state=0)[:, 0].tolist()   # count, residual (128 units: 0.5 star), likes
[1, 128, 1]
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from wnn.config import WNNConfig

#: The planes of the table.
COUNT, RESIDUAL, LIKES = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class TableLayout:
    """Index arithmetic shared by every user of one config (computed once per config, not per user)."""

    tuple_size: int
    size: int  # cells per plane
    offsets: np.ndarray  # first table cell of each Z neuron
    stateful: np.ndarray  # 1 for the Z neurons that also read Q
    state_shift: np.ndarray  # (Q states, M): extra cell offset of each neuron in each Q state
    state_cells: np.ndarray  # (Q states, 3, M): the same, per memory plane of the flat table

    def cells(self, addresses: np.ndarray, state: int | np.ndarray) -> np.ndarray:
        """Flat cell indices of every Z neuron for item addresses (..., M) under Q state(s)."""
        shift = np.asarray(state, dtype=np.int64) << self.tuple_size
        if np.ndim(shift):
            shift = shift[..., None]
        return self.offsets + addresses + shift * self.stateful


@functools.lru_cache(maxsize=16)
def table_layout(cfg: WNNConfig) -> TableLayout:
    """The layout of ``cfg``'s tables (cached: one per config)."""
    m = cfg.n_neurons
    first_cells, size = cfg.neuron_offsets()
    offsets = np.array(first_cells, dtype=np.int64)
    stateful = np.zeros(m, dtype=np.int64)
    if cfg.n_state_bits:
        stateful[1 : 1 + cfg.n_state_neurons] = 1
    state_shift = (np.arange(1 << cfg.n_state_bits, dtype=np.int64)[:, None] << cfg.tuple_size) * stateful
    state_cells = state_shift[:, None, :] + (np.arange(3, dtype=np.int64) * size)[None, :, None]
    for arr in (offsets, stateful, state_shift, state_cells):
        arr.setflags(write=False)
    return TableLayout(cfg.tuple_size, size, offsets, stateful, state_shift, state_cells)


class CountingMemory:
    """One user's Z tables: a (3, cells) int32 array, allocated on the first write."""

    __slots__ = ("layout", "n_neurons", "table")

    def __init__(self, cfg: WNNConfig) -> None:
        self.layout = table_layout(cfg)
        self.n_neurons = cfg.n_neurons
        self.table: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        return self.table is None

    @property
    def flat(self) -> np.ndarray:
        """The table as one flat array (a view: a property, not a second attribute, so a copy of the memory copies
        one array)."""
        return self.ensure().reshape(-1)

    def clear(self) -> None:
        """Back to no table at all, as before the first write."""
        self.table = None

    def ensure(self) -> np.ndarray:
        """The table, allocated (zeros) if it was not yet."""
        if self.table is None:
            self.table = np.zeros((3, self.layout.size), dtype=np.int32)
        return self.table

    def write(self, base: np.ndarray, state: int, units: int, liked: bool) -> None:
        """Count one pair in the cells it addresses: its item's cell base (``offsets + addresses``, one per neuron,
        precomputed by the item space) under Q ``state``, with its residual in integer ``units``."""
        self.ensure()
        write = np.ones((3, self.n_neurons), dtype=np.int32)  # count 1 in every addressed cell
        write[RESIDUAL] = units
        write[LIKES] = 1 if liked else 0
        self.flat[base + self.layout.state_cells[state]] += write

    def rebuild(self, cells: np.ndarray, units: np.ndarray, liked: np.ndarray) -> None:
        """Set the tables to exactly the pairs given: ``cells`` (n, M), one residual (units) and like flag per pair
        (bincount's float64 sums of integers are exact)."""
        table = self.ensure()
        size, m = self.layout.size, self.n_neurons
        flat_cells = cells.ravel()
        table[COUNT] = np.bincount(flat_cells, minlength=size)
        table[RESIDUAL] = np.bincount(flat_cells, weights=np.repeat(units.astype(np.float64), m), minlength=size)
        table[LIKES] = np.bincount(flat_cells, weights=np.repeat(liked.astype(np.float64), m), minlength=size)

    def move(
        self,
        old_cells: np.ndarray,
        new_cells: np.ndarray,
        old_units: np.ndarray,
        new_units: np.ndarray,
        liked: np.ndarray,
    ) -> None:
        """Re-address pairs: take each pair out of its ``old_cells`` (k, M) with its old residual (units) and put it
        in its ``new_cells`` with its new one (their like flags unchanged), in one scatter."""
        self.ensure()
        m, size = self.n_neurons, self.layout.size
        old, new = old_cells.ravel(), new_cells.ravel()
        like = np.repeat(liked.astype(np.int32), m)
        ones = np.ones(len(old), dtype=np.int32)
        indices = np.concatenate((old, new, old + size, new + size, old + 2 * size, new + 2 * size))
        values = np.concatenate(
            (
                -ones,
                ones,
                -np.repeat(old_units.astype(np.int32), m),
                np.repeat(new_units.astype(np.int32), m),
                -like,
                like,
            )
        )
        np.add.at(self.flat, indices, values)

    def gather(self, base: np.ndarray, state: int) -> np.ndarray:
        """The (3, M) int32 cells an item with cell base ``base`` addresses under Q ``state`` (residuals in units)."""
        return self.flat.take(base + self.layout.state_cells[state])

    @property
    def nbytes(self) -> int:
        return self.table.nbytes if self.table is not None else 0


_scratch: dict[int, np.ndarray] = {}


def scratch_table(size: int) -> np.ndarray:
    """One table of ``size`` cells per process, counted into for a list or a compiled run of a network that keeps
    none (only read while the list is scored or the run is learned)."""
    table = _scratch.get(size)
    if table is None:
        table = _scratch[size] = np.zeros((3, size), dtype=np.int32)
    return table
