"""The Z layer read for one user and many items: each item's predicted rating and the counts and likes of the cells
it addresses, in one pass over the user's table (the compiled :func:`wnn.prediction.pooled_reference`).

For item ``i`` with cell base ``cell_base[i]`` (each neuron's first cell plus the item's address) under Q state
shift ``shift``, neuron ``n``'s cell is ``cell_base[i, n] + shift[n]``. The bias neuron (0) gives the user's bias;
each other neuron its cell's deviation from that bias, shrunk by ``interaction_prior``; the rating is the item's
baseline plus the bias plus ``gain`` times their mean, held within ``[low, high]``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

from wnn.config import WNNConfig
from wnn.kernels.sums import pairwise_sum

#: Residual units per star (the tables hold residuals in 1/256 star).
_QUANTUM = 1.0 / 256.0


#: Positions of the model's constants in the array the kernels take (:func:`constants`): one array argument is
#: cheaper to pass to a compiled function than ten floats.
HYBRID, BETA, PRIOR_MEAN, USER_PRIOR, INTERACTION_PRIOR, GAIN, LOW, HIGH, LIKE_THRESHOLD, STAR = range(10)


#: What the kernels get in place of a table, or of a window's pairs, that a network does not hold.
NO_TABLE = np.zeros((3, 0), dtype=np.int32)
NO_PAIR_CELLS = np.zeros((0, 0), dtype=np.int64)
NO_UNITS = np.zeros(0, dtype=np.int32)
NO_LIKES = np.zeros(0, dtype=bool)


@functools.lru_cache(maxsize=16)
def constants(cfg: WNNConfig) -> np.ndarray:
    """The constants of ``cfg`` the pooled read uses, in the order of the names above (read only)."""
    scale = cfg.rating_scale
    values = np.array(
        [
            float(cfg.hybrid),
            cfg.item_prior,
            cfg.prior_mean,
            cfg.user_prior,
            cfg.interaction_prior,
            cfg.interaction_gain,
            scale.low,
            scale.high,
            scale.like_threshold,
            scale.star,
        ],
        dtype=np.float64,
    )
    values.setflags(write=False)
    return values


@njit(cache=True, nogil=True)
def baseline(counts: np.ndarray, sums: np.ndarray, index: int, constants: np.ndarray) -> float:
    """An item's baseline, as :meth:`wnn.item_space.ItemSpace.baseline` computes it."""
    if constants[HYBRID] == 0.0:
        return constants[PRIOR_MEAN]
    beta = constants[BETA]
    return (sums[index] + beta * constants[PRIOR_MEAN]) / (counts[index] + beta)


@njit(cache=True, nogil=True)
def window_cells(cell_base: np.ndarray, state_shift: np.ndarray, items: np.ndarray, q_before: np.ndarray) -> np.ndarray:
    """The cells (pairs, M) each pair of a window wrote to: its item's cell base under the Q state before it."""
    cells = np.empty((len(items), cell_base.shape[1]), np.int64)
    for p in range(len(items)):
        for n in range(cell_base.shape[1]):
            cells[p, n] = cell_base[items[p], n] + state_shift[q_before[p], n]
    return cells


@njit(cache=True, nogil=True)
def bias_cell(table: np.ndarray, pair_units: np.ndarray) -> tuple[int, int]:
    """The bias neuron's one cell (cell 0, which every pair of the window writes): its count and residual units, from
    ``table``, or, for a network that keeps no table (``table`` of no columns), from the window's pairs."""
    if table.shape[1]:
        return table[0, 0], table[1, 0]
    units = 0
    for p in range(len(pair_units)):
        units += pair_units[p]
    return len(pair_units), units


@njit(cache=True, nogil=True)
def _gather(
    pair_cells: np.ndarray,
    pair_units: np.ndarray,
    pair_liked: np.ndarray,
    cell_base: np.ndarray,
    i: int,
    shift: np.ndarray,
    values: np.ndarray,
) -> None:
    """``values`` (3, M): the count, residual units and likes of the cell each neuron addresses for item ``i``,
    added up from the window's pairs of a network that keeps no table."""
    m = cell_base.shape[1]
    values[:] = 0
    for p in range(pair_cells.shape[0]):
        like = 1 if pair_liked[p] else 0
        for n in range(m):
            if pair_cells[p, n] == cell_base[i, n] + shift[n]:
                values[0, n] += 1
                values[1, n] += pair_units[p]
                values[2, n] += like


@njit(cache=True, nogil=True)
def pooled_items(
    table: np.ndarray,
    pair_cells: np.ndarray,
    pair_units: np.ndarray,
    pair_liked: np.ndarray,
    cell_base: np.ndarray,
    items: np.ndarray,
    shift: np.ndarray,
    counts: np.ndarray,
    sums: np.ndarray,
    constants: np.ndarray,
    rating: np.ndarray,
    pooled_count: np.ndarray,
    pooled_likes: np.ndarray,
) -> None:
    """Fill ``rating``, ``pooled_count`` and ``pooled_likes`` (one entry per item of ``items``) from ``table``
    (3, cells) int32: count, residual units and likes per cell; or, for a network that keeps no table (``table``
    of no columns), from its window's pairs: ``pair_cells`` (:func:`window_cells`), residual units and like flags."""
    m = cell_base.shape[1]
    interaction_prior, gain = constants[INTERACTION_PRIOR], constants[GAIN]
    low, high = constants[LOW], constants[HIGH]
    bias_count, bias_units = bias_cell(table, pair_units)
    user_bias = bias_units * _QUANTUM / (float(bias_count) + constants[USER_PRIOR])
    deviation = np.empty(m - 1)
    values = np.empty((3, m), np.int64)
    dense = table.shape[1] > 0
    for k in range(len(items)):
        i = items[k]
        count_sum = 0
        likes_sum = 0
        if dense:  # read in place: the common case, kept free of the copy below
            for n in range(1, m):
                cell = cell_base[i, n] + shift[n]
                count = table[0, cell]
                count_sum += count
                likes_sum += table[2, cell]
                deviation[n - 1] = (table[1, cell] * _QUANTUM - count * user_bias) / (count + interaction_prior)
        else:
            _gather(pair_cells, pair_units, pair_liked, cell_base, i, shift, values)
            for n in range(1, m):
                count = values[0, n]
                count_sum += count
                likes_sum += values[2, n]
                deviation[n - 1] = (values[1, n] * _QUANTUM - count * user_bias) / (count + interaction_prior)
        value = baseline(counts, sums, i, constants) + user_bias
        value = value + gain * pairwise_sum(deviation, 0, m - 1) / (m - 1)
        rating[k] = low if value < low else (high if value > high else value)
        pooled_count[k] = count_sum
        pooled_likes[k] = likes_sum


@njit(cache=True, nogil=True)
def prior_like(rating: float, constants: np.ndarray) -> float:
    """The like probability a predicted rating alone implies (:func:`wnn.prediction.prior_like`)."""
    star = constants[STAR]
    return 1.0 / (1.0 + math.exp(-2.0 / star * (rating - constants[LIKE_THRESHOLD] + 0.5 * star)))


@njit(cache=True, nogil=True)
def predict_item(
    table: np.ndarray,
    pair_cells: np.ndarray,
    pair_units: np.ndarray,
    pair_liked: np.ndarray,
    cell_base: np.ndarray,
    index: int,
    shift: np.ndarray,
    counts: np.ndarray,
    sums: np.ndarray,
    constants: np.ndarray,
) -> tuple[float, float]:
    """One item's predicted rating and like probability (:func:`wnn.prediction.predict_reference`)."""
    items = np.full(1, index)
    rating, count, likes = np.empty(1), np.empty(1, np.int64), np.empty(1, np.int64)
    pooled_items(
        table, pair_cells, pair_units, pair_liked, cell_base, items, shift, counts, sums, constants, rating, count,
        likes,
    )  # fmt: skip
    prior = constants[INTERACTION_PRIOR] * (cell_base.shape[1] - 1)
    return rating[0], (likes[0] + prior * prior_like(rating[0], constants)) / (count[0] + prior)


@njit(cache=True, nogil=True)
def predict_from_window(
    items: np.ndarray,
    ratings: np.ndarray,
    like_threshold: float,
    units: np.ndarray,
    q_before: np.ndarray,
    start: int,
    stop: int,
    cell_base: np.ndarray,
    state_shift: np.ndarray,
    state: int,
    index: int,
    counts: np.ndarray,
    sums: np.ndarray,
    constants: np.ndarray,
) -> tuple[float, float]:
    """:func:`predict_item` of a network that keeps no table, from its stored columns in one call: the window is the
    pairs ``start .. stop`` (their items, float32 ratings, residual units and Q states before them); Q is ``state``
    now."""
    cells = window_cells(cell_base, state_shift, items[start:stop], q_before[start:stop])
    liked = ratings[start:stop] >= like_threshold
    return predict_item(
        np.zeros((3, 0), np.int32),
        cells,
        units[start:stop],
        liked,
        cell_base,
        index,
        state_shift[state],
        counts,
        sums,
        constants,
    )
