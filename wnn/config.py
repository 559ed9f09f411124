"""Hyper-parameters shared by the item space and every user's network.

One frozen object so that a worker, the evaluation and a saved state agree on the wiring: two processes built from
equal configs compute identical item addresses.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json

from wnn.rating_scale import WHOLE_STARS, RatingScale

#: The largest ``max_pairs``: a table cell sums residuals of up to 4 stars (1-5) in 1/256 steps in an int32.
MAX_PAIRS_LIMIT = 1_000_000
#: The largest sum of residual units one int32 table cell may have to hold.
_CELL_LIMIT = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class WNNConfig:
    """Settings of the weightless recommender.

    Parameters
    ----------
    seed
        Global wiring seed. Neuron tuples and the users' random projection vectors derive from it.
    n_neurons
        Number of Z (output) RAM neurons, including the bias neuron (neuron 0, which reads no bits).
    tuple_size
        Input bits each Z neuron reads from the item's bit vector; the table has ``2**tuple_size`` cells per Q state.
    n_state_bits
        Size of the recurrent hidden layer Q. 0 turns recurrence off.
    n_state_neurons
        How many Z neurons also read the Q bits in their address (the rest read item bits only).
    hybrid
        If True the input carries global, stream-derived bits (item mean, popularity, collaborative code) and the
        residual target is taken against the global item baseline. If False only content bits (genres, year) are
        used and the baseline is the global mean: the paper's content-only model.
    collab_bits
        Length of each item's collaborative binary code (sign bits of a streaming random projection).
    n_genre_slots
        Genre bits; unseen genre strings are bucketed onto these slots deterministically.
    rating_scale
        The stars ratings take (:class:`wnn.rating_scale.RatingScale`; 1-5 in whole stars by default, ML-100K's).
        The prior mean, the like threshold, the prediction clip and the item-mean thresholds derive from it; rating
        differences (the drift allowance and threshold, the rating weight of the ranking) are in its
        :attr:`~wnn.rating_scale.RatingScale.star`, a quarter of its span. Not part of the fingerprint: stored pairs
        hold ratings, and everything the scale shapes is derived from them.
    item_prior
        An item's baseline is its mean rating shrunk toward the scale's ``prior_mean`` by ``item_prior``
        pseudo-ratings. A constant, not the running global mean: a global mean moves with every rating and would
        make every item's baseline, and every stored pair's residual, depend on all other ratings.
    user_prior
        Pseudo-count pulling the user's bias (bias neuron) toward zero.
    interaction_prior
        Pseudo-count, per Z neuron, pulling the mean residual of the cell it reads toward the user's bias.
    interaction_gain
        Scale of the neurons' averaged deviations (neurons share bits, so their votes are not independent).
    popularity_half_life_s
        Half-life of the time-decayed popularity used for ranking (event time, seconds).
    affinity_weight, rating_weight, like_weight, transition_weight
        Ranking score = log decayed popularity + affinity_weight * log affinity + rating_weight * predicted rating
        (in stars) + like_weight * like probability + the sequence context: for each of the user's
        ``sequence_length`` newest items, newest first, ``transition_weight * sequence_decay**j`` times the log share
        of that item's successors in everyone's sequences (see ItemSpace.sequence_scores). See :mod:`wnn.ranking`.
    sequence_length, sequence_decay
        How many of the user's newest items the sequence context reads, and how fast their weight falls.
    max_pairs
        Sliding-window forgetting: when a user holds more pairs, the oldest are forgotten, down to ``max_pairs -
        max_pairs // 10`` (so a user holds between 90% and 100% of it). At most :data:`MAX_PAIRS_LIMIT`: the
        tables count in 32-bit integers, exact up to 1.8 million pairs in one cell.
    drift_threshold, drift_allowance
        Taste-change detection (:mod:`wnn.taste_change`): a two-sided CUSUM over the user's residuals, with this
        allowance per pair (both in stars), restarts the network's window at the change point when either sum passes
        the threshold. Older pairs stay stored but stop voting. None turns it off (every pair votes for ever).
    n_candidates
        :meth:`UserWNN.score` ranks only this many globally strongest items per user (plus room for the items the
        user rated). None scores the whole catalogue.
    """

    seed: int = 7
    n_neurons: int = 64
    tuple_size: int = 6
    n_state_bits: int = 2
    n_state_neurons: int = 8
    hybrid: bool = True
    collab_bits: int = 4
    n_genre_slots: int = 19
    rating_scale: RatingScale = WHOLE_STARS
    item_prior: float = 5.0
    user_prior: float = 6.0
    interaction_prior: float = 3.0
    interaction_gain: float = 2.5
    popularity_half_life_s: float = 14 * 86400.0
    affinity_weight: float = 2.0
    rating_weight: float = 0.5
    transition_weight: float = 0.5
    like_weight: float = 2.0
    sequence_length: int = 20
    sequence_decay: float = 0.9
    max_pairs: int = 100_000
    n_candidates: int | None = 200
    drift_threshold: float | None = 6.0
    drift_allowance: float = 0.5

    def __post_init__(self) -> None:
        if not 2 <= self.n_neurons <= 255:
            raise ValueError(f"n_neurons must be in [2, 255], got {self.n_neurons}")
        if not 1 <= self.tuple_size <= 8:
            raise ValueError(f"tuple_size must be in [1, 8] (addresses are stored as uint8), got {self.tuple_size}")
        if not 0 <= self.n_state_bits <= 4:
            raise ValueError(f"n_state_bits must be in [0, 4], got {self.n_state_bits}")
        if not 0 <= self.collab_bits <= 26:
            raise ValueError(f"collab_bits must be in [0, 26] (codes are packed in 32 bits), got {self.collab_bits}")
        if self.n_state_neurons >= self.n_neurons:
            raise ValueError("n_state_neurons must leave room for the bias neuron")
        if self.drift_threshold is not None and not (self.drift_threshold > 0 and self.drift_allowance >= 0):
            raise ValueError("drift_threshold must be positive (or None) and drift_allowance non-negative")
        if self.sequence_length < 1 or not 0.0 <= self.sequence_decay <= 1.0:
            raise ValueError("sequence_length must be at least 1 and sequence_decay within [0, 1]")
        if not 1 <= self.max_pairs <= MAX_PAIRS_LIMIT:
            raise ValueError(f"max_pairs must be in [1, {MAX_PAIRS_LIMIT:,}], got {self.max_pairs}")
        if self.max_pairs * self.rating_scale.span * 256 > _CELL_LIMIT:
            most = int(_CELL_LIMIT / (self.rating_scale.span * 256))
            raise ValueError(
                f"a table cell could overflow: on a rating scale {self.rating_scale.span:g} wide, max_pairs must be at "
                f"most {most:,}, got {self.max_pairs:,}"
            )

    # Cached: read on every learn and prediction (a frozen dataclass keeps a cached_property in its __dict__).
    @functools.cached_property
    def prior_mean(self) -> float:
        """What an item's baseline is shrunk toward (the scale's; 3.5 on 1-5)."""
        return self.rating_scale.prior_mean

    @functools.cached_property
    def like_threshold(self) -> float:
        """Ratings at or above it are likes (the scale's; 4 on 1-5)."""
        return self.rating_scale.like_threshold

    @property
    def cells_per_neuron(self) -> int:
        """Table width of a Z neuron that reads Q: every item address times every Q state."""
        return 1 << (self.tuple_size + self.n_state_bits)

    def neuron_offsets(self) -> tuple[tuple[int, ...], int]:
        """First table cell of each Z neuron, and the cells of the whole table.

        Only the neurons that read Q need a block per Q state; the others need one cell per item address, and the
        bias neuron (which reads no bits) one cell. Packing the neurons this way holds the same cells as one
        full-width block each, in about a third of the memory (5,569 cells instead of 16,384 by default).
        """
        widths = [1] + [
            self.cells_per_neuron if 1 <= n <= self.n_state_neurons and self.n_state_bits else 1 << self.tuple_size
            for n in range(1, self.n_neurons)
        ]
        offsets = [0]
        for width in widths[:-1]:
            offsets.append(offsets[-1] + width)
        return tuple(offsets), offsets[-1] + widths[-1]

    def fingerprint(self) -> str:
        """Short hash of the settings that shape a user's state, stored in serialized state to catch mismatches."""
        return self._fingerprint

    @functools.cached_property
    def _fingerprint(self) -> str:  # read with every state written or read
        shape = {
            k: getattr(self, k)
            for k in (
                "seed",
                "n_neurons",
                "tuple_size",
                "n_state_bits",
                "n_state_neurons",
                "hybrid",
                "collab_bits",
                "n_genre_slots",
            )
        }
        return hashlib.blake2b(json.dumps(shape, sort_keys=True).encode(), digest_size=6).hexdigest()
