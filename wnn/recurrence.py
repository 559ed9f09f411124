"""The Q layer: a recurrent hidden state over one user's own event sequence.

Q neuron ``j`` is a lookup table addressed by its input channel bit ``I_c(t)`` (one bit of the item's input, chosen
by the wiring), the event's like bit ``y(t)`` and its own previous value ``Q_j(t-1)``. Its table is a latch:
``Q_j(t) = y(t)`` when the channel is set, else ``Q_j(t-1)``. Channel 0 is always set, so ``Q_0`` is "the last
rating was a like". Q therefore tracks the user's recent taste per region of item space, and selects which block
of the Z neurons that read it a pair is written to.

>>> next_state(0b00, channels=0b01, liked=True)
1
>>> before, after = states_before(np.array([True, False, True]), np.array([1, 3, 2]), n_state_bits=2)
>>> before.tolist(), after
([0, 1, 0], 2)
"""

from __future__ import annotations

import numpy as np


def next_state(state: int, channels: int, liked: bool) -> int:
    """Q after one pair: the neurons whose channel the item sets latch the like bit, the others keep their value."""
    return (state & ~channels) | (channels if liked else 0)


def states_before(liked: np.ndarray, channels: np.ndarray, n_state_bits: int) -> tuple[np.ndarray, int]:
    """Q before each pair of a sequence, and Q after the last one, replayed from the pairs' like bits and channel
    bits (vectorised per Q bit; Q starts at zero with the sequence)."""
    n = len(liked)
    after = np.zeros(n, dtype=np.int64)
    positions = np.arange(n)
    for j in range(n_state_bits):
        active = (channels >> j) & 1
        last = np.maximum.accumulate(np.where(active == 1, positions, -1)) if n else positions
        after |= np.where(last >= 0, liked[np.maximum(last, 0)], False).astype(np.int64) << j
    before = np.concatenate(([0], after[:-1])) if n else after
    return before, int(after[-1]) if n else 0
