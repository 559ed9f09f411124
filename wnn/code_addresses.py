"""A dynamic code's share of every Z neuron's address: an item's address is its content bits' share plus its code's.

An address is a sum of bit weights, so it splits into the part of the item's content bits (fixed per item) and the
part of its stream-derived code (popularity level, mean level, collaborative signs), which every item with that
code shares. :class:`CodeAddresses` computes a code's part once and keeps it, and tabulates every code's part of
each neuron's first cell for the compiled kernels.
"""

from __future__ import annotations

import numpy as np

from wnn.config import WNNConfig
from wnn.encoding import POPULARITY_THRESHOLDS
from wnn.item_bits import LEVEL_BITS, BitLayout
from wnn.wiring import Wiring

#: Codes of at most this many bits are tabulated for the kernels (:meth:`CodeAddresses.cells`): 2**12 x 64 int64,
#: 2 MiB.
CODE_TABLE_BITS = 12


class CodeAddresses:
    """Each dynamic code's share of the Z neurons' addresses, for one wiring."""

    def __init__(self, config: WNNConfig, layout: BitLayout, wiring: Wiring) -> None:
        self.config, self.layout, self.wiring = config, layout, wiring
        #: Each Z neuron's first cell in the flat table memory.
        self.neuron_offsets = np.array(config.neuron_offsets()[0], dtype=np.int64)
        self._parts: dict[int, np.ndarray] = {}
        self._cells: np.ndarray | None = None

    def part(self, code: int) -> np.ndarray:
        """The dynamic bits' part of every Z neuron's address for a packed dynamic code (kept; read only)."""
        part = self._parts.get(code)
        if part is None:
            row = np.zeros((1, self.layout.width), dtype=np.uint8)
            if self.config.hybrid:
                self.layout.write_dynamic(row, np.array([code], dtype=np.uint32))
            part = self._parts[code] = self.wiring.addresses(row)[0].astype(np.int64)
            part.setflags(write=False)
        return part

    def cells(self) -> np.ndarray | None:
        """Every dynamic code's share of each Z neuron's first cell, neuron offsets included (codes, M): an item's
        cell base under a code is its content bits' addresses plus this row. Built once; None when codes are too
        wide to tabulate (more than :data:`CODE_TABLE_BITS`)."""
        table = self._cells
        if table is None:
            bits = 2 * LEVEL_BITS + self.config.collab_bits if self.config.hybrid else 0
            if bits > CODE_TABLE_BITS:
                return None
            codes = np.arange(1 << bits, dtype=np.uint32)
            n_pop, n_mean = len(POPULARITY_THRESHOLDS) + 1, len(self.layout.mean_thresholds) + 1
            level = (1 << LEVEL_BITS) - 1
            possible = ((codes & level) < n_pop) & ((codes >> LEVEL_BITS & level) < n_mean)  # levels in range
            rows = np.zeros((int(possible.sum()), self.layout.width), dtype=np.uint8)
            if self.config.hybrid:
                self.layout.write_dynamic(rows, codes[possible])
            table = np.zeros((len(codes), self.config.n_neurons), dtype=np.int64)
            table[possible] = self.wiring.addresses(rows)
            table += self.neuron_offsets
            table.setflags(write=False)
            self._cells = table
        return table

    def kernel_arguments(self, constants: np.ndarray) -> tuple[np.ndarray, ...] | None:
        """The model ``constants``, the two thermometers' thresholds, the code cells and the neuron offsets, as the
        compiled code refresh takes them; None where codes are too wide to tabulate (the reference's refresh runs
        then)."""
        code_cells = self.cells()
        if code_cells is None:
            return None
        return (
            constants,
            np.array(POPULARITY_THRESHOLDS, dtype=np.float64),
            np.array(self.layout.mean_thresholds, dtype=np.float64),
            code_cells,
            self.neuron_offsets,
        )
