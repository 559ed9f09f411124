"""What a network predicts: the expected rating and the like probability of items, read from its Z tables.

The predicted rating is the item's baseline, plus the user's bias (the bias neuron's shrunk mean residual), plus the
gain times the average over the other Z neurons of each addressed cell's mean deviation from that bias, shrunk toward
zero by ``interaction_prior``. The like probability is the pooled cells' share of likes, shrunk toward a sigmoid of
the predicted rating.

The sums over neurons run in an order that does not depend on where an array sits in memory, so equal tables give
bit-identical predictions (the unlearning contract compares them): one row per item, summed along the row in
numpy's pairwise order, for one item and for many alike. :mod:`wnn.kernels.pooled` computes the same in one compiled
pass (the ``*_reference`` functions here are the numpy specification it is checked against).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from wnn.kernels import libm, mode
from wnn.kernels import pooled as kernels
from wnn.kernels.pooled import NO_LIKES, NO_PAIR_CELLS, NO_UNITS
from wnn.memory import COUNT, LIKES, RESIDUAL
from wnn.residuals import RESIDUAL_QUANTUM

if TYPE_CHECKING:
    from wnn.config import WNNConfig
    from wnn.derivation import Derivation
    from wnn.rating_scale import RatingScale


#: Reads of more items than this count a network's table first when it keeps none (:meth:`~wnn.derivation.
#: Derivation.kernel_memory`).
MANY_ITEMS = 8


class Prediction(NamedTuple):
    """A predicted rating and the probability that the user likes the item."""

    rating: float
    like_probability: float


def _prior_like(rating: np.ndarray, scale: RatingScale) -> np.ndarray:
    """The like probability a predicted rating alone implies: one half at half a star below the like threshold,
    with a slope of 2 per star (the scale's :attr:`~wnn.rating_scale.RatingScale.star`)."""
    return 1.0 / (1.0 + libm.exp(-2.0 / scale.star * (rating - scale.like_threshold + 0.5 * scale.star)))


def predict(derived: Derivation, idx: int) -> Prediction:
    """The prediction for one item (dense index), from reconciled derived state."""
    if not mode.compiled() or not derived.pairs.n:
        return predict_reference(derived, idx)
    space = derived.space
    layout = derived.memory.layout
    table = derived.memory.table
    if table is None:  # kept without a table: added up from the window's pairs
        log = derived.pairs
        rating, like = kernels.predict_from_window(
            log.items, log.ratings, derived.like_threshold, derived.column("units"), derived.column("q_before"),
            derived.window_start, log.n, space.cell_base, layout.state_shift, derived.state, idx, space.counts,
            space.sums, space.kernel_constants,
        )  # fmt: skip
    else:
        rating, like = kernels.predict_item(
            table, NO_PAIR_CELLS, NO_UNITS, NO_LIKES, space.cell_base, idx, layout.state_shift[derived.state],
            space.counts, space.sums, space.kernel_constants,
        )  # fmt: skip
    return Prediction(rating, like)


def predict_reference(derived: Derivation, idx: int) -> Prediction:
    """:func:`predict` in numpy: :func:`pooled_reference` of the one item, and its like probability."""
    cfg = derived.space.config
    scale = cfg.rating_scale
    slope, like, half_star = -2.0 / scale.star, scale.like_threshold, 0.5 * scale.star
    if not derived.pairs.n:  # an empty memory: the same formula with every cell at zero
        rating = scale.clip(derived.space.baseline(idx))
        return Prediction(rating, 1.0 / (1.0 + math.exp(slope * (rating - like + half_star))))
    ratings, (count, likes), _ = pooled_reference(derived, np.array([idx]))
    rating = float(ratings[0])
    prior = cfg.interaction_prior * (cfg.n_neurons - 1)
    prior_like = 1.0 / (1.0 + math.exp(slope * (rating - like + half_star)))
    return Prediction(rating, (int(likes[0]) + prior * prior_like) / (int(count[0]) + prior))


def pooled(derived: Derivation, items: np.ndarray | None) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], float]:
    """Predicted ratings of ``items`` (every item if None), the pooled count and likes of the cells they address
    (summed over the Z neurons but the bias neuron), and the bias neuron's count (the user's window size), from
    reconciled derived state."""
    if not mode.compiled() or not derived.pairs.n:
        return pooled_reference(derived, items)
    space = derived.space
    chosen = np.arange(space.n_items) if items is None else np.asarray(items, dtype=np.int64)
    rating = np.empty(len(chosen))
    count, likes = np.empty(len(chosen), np.int64), np.empty(len(chosen), np.int64)
    table, pair_cells, pair_units, pair_liked = derived.kernel_memory(many=len(chosen) > MANY_ITEMS)
    kernels.pooled_items(
        table,
        pair_cells,
        pair_units,
        pair_liked,
        space.cell_base,
        chosen,
        derived.memory.layout.state_shift[derived.state],
        space.counts,
        space.sums,
        space.kernel_constants,
        rating,
        count,
        likes,
    )
    return rating, (count, likes), float(table[0, 0] if table.shape[1] else len(pair_units))


def pooled_reference(
    derived: Derivation, items: np.ndarray | None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], float]:
    """:func:`pooled` in numpy."""
    space, cfg = derived.space, derived.space.config
    baselines = space.baselines(items)
    layout, table = derived.memory.layout, derived.table()
    if table is None:  # no pairs: the baselines alone
        zeros = np.zeros(len(baselines))
        return cfg.rating_scale.clip_all(baselines), (zeros, zeros), 0.0
    base = space.cell_base[: space.n_items] if items is None else space.cell_base[items]
    cells = base + layout.state_shift[derived.state]
    counts = table[COUNT].take(cells)[:, 1:]
    bias_count = float(table[COUNT, 0])
    user_bias = int(table[RESIDUAL, 0]) * RESIDUAL_QUANTUM / (bias_count + cfg.user_prior)
    deviation = (table[RESIDUAL].take(cells)[:, 1:] * RESIDUAL_QUANTUM - counts * user_bias) / (
        counts + cfg.interaction_prior
    )
    rating = cfg.rating_scale.clip_all(
        baselines + user_bias + cfg.interaction_gain * deviation.sum(axis=1) / (cfg.n_neurons - 1)
    )
    return rating, (counts.sum(axis=1), table[LIKES].take(cells)[:, 1:].sum(axis=1)), bias_count


def like_probabilities(rating: np.ndarray, count: np.ndarray, likes: np.ndarray, cfg: WNNConfig) -> np.ndarray:
    """Like probabilities from predicted ratings and the pooled cells' counts and likes (as :func:`pooled` gives)."""
    prior = cfg.interaction_prior * (cfg.n_neurons - 1)
    return (likes + prior * _prior_like(rating, cfg.rating_scale)) / (count + prior)
