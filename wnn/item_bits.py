"""The layout of an item's input bits, and the packed *dynamic code* of its stream-derived groups.

An item's bit vector is ``[genres | year | popularity | mean | collab | ZERO | ONE]``:

* content (static, from the catalogue): genres (multi-hot, unseen strings bucketed) and release year (thermometer);
* stream-derived (``hybrid=True`` only): popularity so far and mean so far (thermometers) and a collaborative code
  (sign bits of a random projection of the item's centred ratings);
* two constant bits: the bias neuron reads ZERO, and Q's channel 0 reads ONE.

The three stream-derived groups are packed into one small integer, the dynamic code: 3 bits for the popularity
level, 3 for the mean level, then the collaborative bits. With the content bits it gives back the whole vector.

>>> from wnn.config import WNNConfig
>>> layout = BitLayout(WNNConfig())
>>> layout.n_feature_bits, layout.content_bits
(40, 24)
>>> code = layout.code(count=5, mean=3.6, projection=[1.0, -1.0, 2.0, 0.0])
>>> layout.levels(code)
(2, 4, [1, 0, 1, 0])
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

from wnn.config import WNNConfig
from wnn.encoding import POPULARITY_THRESHOLDS, YEAR_THRESHOLDS, thermometer

#: Bits of a packed dynamic code used by each thermometer level (popularity, then mean; the collab code follows).
LEVEL_BITS = 3
_LEVEL_MASK = (1 << LEVEL_BITS) - 1


class BitLayout:
    """Where each group of an item's bits lives, and the conversions between the groups and the dynamic code."""

    def __init__(self, cfg: WNNConfig) -> None:
        self.config = cfg
        self.mean_thresholds = cfg.rating_scale.mean_thresholds
        n_means = len(self.mean_thresholds)
        self.content_bits = cfg.n_genre_slots + len(YEAR_THRESHOLDS)
        n_dynamic = (len(POPULARITY_THRESHOLDS) + n_means + cfg.collab_bits) if cfg.hybrid else 0
        self.n_feature_bits = self.content_bits + n_dynamic
        self.zero_bit, self.one_bit = self.n_feature_bits, self.n_feature_bits + 1
        self.width = self.n_feature_bits + 2
        self.year_at = cfg.n_genre_slots
        self.pop_at = self.content_bits
        self.mean_at = self.pop_at + len(POPULARITY_THRESHOLDS)
        self.collab_at = self.mean_at + n_means
        self._pop_rows = thermometer(
            np.arange(len(POPULARITY_THRESHOLDS) + 1), np.arange(1, len(POPULARITY_THRESHOLDS) + 1)
        )
        self._mean_rows = thermometer(np.arange(n_means + 1), np.arange(1, n_means + 1))
        self._collab_shifts = np.arange(cfg.collab_bits, dtype=np.int64) + 2 * LEVEL_BITS

    def code(self, count: float, mean: float, projection: Sequence[float]) -> int:
        """The packed dynamic code of an item with ``count`` ratings, baseline ``mean`` and collaborative
        ``projection`` (its sign bits)."""
        collab = 0
        for j, value in enumerate(projection):
            if value > 0:
                collab |= 1 << j
        return (
            bisect.bisect_right(POPULARITY_THRESHOLDS, count)
            | bisect.bisect_right(self.mean_thresholds, mean) << LEVEL_BITS
            | collab << (2 * LEVEL_BITS)
        )

    def levels(self, code: int) -> tuple[int, int, list[int]]:
        """A code's popularity level, mean level and collaborative bits."""
        return (
            code & _LEVEL_MASK,
            (code >> LEVEL_BITS) & _LEVEL_MASK,
            [(code >> int(s)) & 1 for s in self._collab_shifts],
        )

    def write_dynamic(self, rows: np.ndarray, codes: np.ndarray) -> None:
        """Overwrite the stream-derived groups of ``rows`` (n, width) from packed dynamic codes (n,)."""
        codes = codes.astype(np.int64)
        rows[:, self.pop_at : self.mean_at] = self._pop_rows[codes & _LEVEL_MASK]
        rows[:, self.mean_at : self.collab_at] = self._mean_rows[(codes >> LEVEL_BITS) & _LEVEL_MASK]
        rows[:, self.collab_at : self.zero_bit] = (codes[:, None] >> self._collab_shifts) & 1

    def groups(self, row: np.ndarray) -> dict[str, np.ndarray]:
        """One item's bit vector split into its named groups (copies), for explanations and debugging."""
        groups = {"genres": row[: self.year_at], "year": row[self.year_at : self.content_bits]}
        if self.config.hybrid:
            groups.update(
                popularity=row[self.pop_at : self.mean_at],
                mean=row[self.mean_at : self.collab_at],
                collab=row[self.collab_at : self.zero_bit],
            )
        return {k: v.copy() for k, v in groups.items()}
