"""What a network predicts: the expected rating and the like probability of items, read from its Z tables.

The predicted rating is the item's baseline, plus the user's bias (the bias neuron's shrunk mean residual), plus the
gain times the average over the other Z neurons of each addressed cell's mean deviation from that bias, shrunk toward
zero by ``interaction_prior``. The like probability is the pooled cells' share of likes, shrunk toward a sigmoid of
the predicted rating.

The sums over neurons run in an order that does not depend on where an array sits in memory, so equal tables give
bit-identical predictions (the unlearning contract compares them): a one-item prediction uses one BLAS product of
the same two rows of a fresh array; a many-item prediction keeps one row per item and sums along the rows (a BLAS
product's order may depend on a row's position).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from wnn.memory import COUNT, LIKES, RESIDUAL
from wnn.residuals import RESIDUAL_QUANTUM

if TYPE_CHECKING:
    from wnn.config import WNNConfig
    from wnn.derivation import Derivation
    from wnn.rating_scale import RatingScale


class Prediction(NamedTuple):
    """A predicted rating and the probability that the user likes the item."""

    rating: float
    like_probability: float


def _prior_like(rating: np.ndarray | float, scale: RatingScale) -> Any:
    """The like probability a predicted rating alone implies: one half at half a star below the like threshold,
    with a slope of 2 per star (the scale's :attr:`~wnn.rating_scale.RatingScale.star`)."""
    return 1.0 / (1.0 + np.exp(-2.0 / scale.star * (rating - scale.like_threshold + 0.5 * scale.star)))


def predict(derived: Derivation, idx: int) -> Prediction:
    """The prediction for one item (dense index), from reconciled derived state."""
    space, cfg = derived.space, derived.space.config
    baseline = space.baseline(idx)
    scale = cfg.rating_scale
    slope, like, half_star = -2.0 / scale.star, scale.like_threshold, 0.5 * scale.star
    if derived.memory.empty:  # an empty memory: the same formula with every cell at zero
        rating = scale.clip(baseline)
        return Prediction(rating, 1.0 / (1.0 + math.exp(slope * (rating - like + half_star))))
    cells = derived.memory.gather(space.cell_base[idx], derived.state).astype(np.float64)
    pooled = cells[:, 1:]  # every Z neuron but the bias neuron
    count, _, likes = pooled.sum(axis=1).tolist()
    user_bias = cells.item(RESIDUAL, 0) * RESIDUAL_QUANTUM / (cells.item(COUNT, 0) + cfg.user_prior)
    # sum_n (S_n - N_n b) / (N_n + prior) = S.v - b N.v with v_n = 1 / (N_n + prior): one product.
    weighted_count, weighted_units = (pooled[:2] @ (1.0 / (pooled[COUNT] + cfg.interaction_prior))).tolist()
    deviation = weighted_units * RESIDUAL_QUANTUM - user_bias * weighted_count
    rating = baseline + user_bias + cfg.interaction_gain * deviation / (cfg.n_neurons - 1)
    rating = scale.clip(rating)
    prior = cfg.interaction_prior * (cfg.n_neurons - 1)
    prior_like = 1.0 / (1.0 + math.exp(slope * (rating - like + half_star)))
    return Prediction(rating, (likes + prior * prior_like) / (count + prior))


def pooled(derived: Derivation, items: np.ndarray | None) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], float]:
    """Predicted ratings of ``items`` (every item if None), the pooled count and likes of the cells they address
    (summed over the Z neurons but the bias neuron), and the bias neuron's count (the user's window size), from
    reconciled derived state."""
    space, cfg = derived.space, derived.space.config
    baselines = space.baselines(items)
    layout, table = derived.memory.layout, derived.memory.table
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
