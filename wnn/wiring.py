"""Which input bits each RAM neuron reads: one draw from the global seed, shared by every user.

Z neuron ``n`` reads ``tuple_size`` distinct feature bits; its address is those bits as a binary number. Neuron 0 is
the bias neuron: it reads the constant ZERO bit only, so its address is always 0. Q neuron ``j`` reads one channel
bit; channel 0 is the constant ONE bit ("the last rating was a like"), the others are content bits, so an item's Q
channels never change with the stream (a user's Q states depend on their own pairs only).

>>> from wnn.config import WNNConfig
>>> from wnn.item_bits import BitLayout
>>> wiring = Wiring(WNNConfig(seed=1), BitLayout(WNNConfig(seed=1)))
>>> wiring.tuples.shape, bool((wiring.tuples[0] == wiring.tuples[0, 0]).all())
((64, 6), True)
"""

from __future__ import annotations

import numpy as np

from wnn.config import WNNConfig
from wnn.item_bits import BitLayout


class Wiring:
    """The Z neurons' bit tuples and the Q neurons' channel bits, and the addresses they give a bit vector."""

    def __init__(self, cfg: WNNConfig, bits: BitLayout) -> None:
        rng = np.random.default_rng(cfg.seed)
        k = cfg.tuple_size
        tuples = np.stack(
            [rng.choice(bits.n_feature_bits, size=k, replace=False) for _ in range(cfg.n_neurons)]
        ).astype(np.int64)
        tuples[0] = bits.zero_bit  # neuron 0 is the bias neuron: its address is always 0
        self.tuples = tuples
        channels = rng.choice(bits.n_feature_bits, size=max(cfg.n_state_bits, 1), replace=False)
        channels[0] = bits.one_bit
        channels[1:] %= bits.content_bits  # a stream-derived channel would make Q depend on other users' ratings
        self.channel_bits = channels[: cfg.n_state_bits]
        self._pow2 = (1 << np.arange(k)).astype(np.int64)
        self._chan_pow2 = (1 << np.arange(cfg.n_state_bits)).astype(np.int64)

    def addresses(self, rows: np.ndarray) -> np.ndarray:
        """Z-neuron addresses (..., M) of bit vectors (..., width)."""
        return (rows[..., self.tuples] @ self._pow2).astype(np.uint8)

    def channels(self, rows: np.ndarray) -> np.ndarray:
        """Q channel bits, packed (...,), of bit vectors (..., width)."""
        return (rows[..., self.channel_bits] @ self._chan_pow2).astype(np.uint8)
