"""One rating folded into its item's exact statistics, and the item's dynamic code and cell bases derived again: the
compiled form of :meth:`wnn.item_space.ItemSpace.update` and of the code refresh in ``ItemSpace._refresh``.

The statistics are integer sums (count, fixed-point projection, user vectors and centred values) and a float64 sum of
float32 ratings, so adding a rating here gives the same integers and the same float as the reference's Python
arithmetic. The code is computed with the reference's operations in its order: the baseline
``(sum + beta * prior_mean) / (count + beta)``, the centred mean ``centred / count / SCALE`` (both integers are below
2**53, so their conversion to float64 is exact and the division is the correctly rounded one Python's ``int / int``
gives), and each collaborative bit as ``projection - mean * vector > 0``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from wnn.item_stats import PROJECTION_SCALE
from wnn.kernels.next_items import add_count
from wnn.kernels.pooled import BETA, PRIOR_MEAN

#: Bits of the packed code used by each thermometer level (:data:`wnn.item_bits.LEVEL_BITS`, repeated here so that
#: this module needs nothing from the layout at compile time; a test pins the two equal).
LEVEL_BITS = 3


@njit(cache=True, nogil=True)
def add_rating(
    counts: np.ndarray,
    sums: np.ndarray,
    projection: np.ndarray,
    vector_sums: np.ndarray,
    centred_sums: np.ndarray,
    index: int,
    rating: float,
    centred: float,
    scaled_vector: np.ndarray,
    vector_units: np.ndarray,
) -> None:
    """Add one rating (``rating`` a float32 value, ``centred`` its user-centred value) of a user whose vector times
    the fixed-point scale is ``scaled_vector`` (and, rounded, ``vector_units``) to item ``index``'s sums."""
    counts[index] += 1
    sums[index] += rating
    for j in range(projection.shape[1]):
        projection[index, j] += np.int64(np.rint(centred * scaled_vector[j]))
        vector_sums[index, j] += vector_units[j]
    centred_sums[index] += np.int64(np.rint(centred * PROJECTION_SCALE))


@njit(cache=True, nogil=True)
def _levels_below(thresholds: np.ndarray, value: float) -> int:
    """How many of the sorted ``thresholds`` are at most ``value`` (``bisect.bisect_right``)."""
    level = 0
    for threshold in thresholds:
        if threshold <= value:
            level += 1
    return level


@njit(cache=True, nogil=True)
def refresh_code(
    counts: np.ndarray,
    sums: np.ndarray,
    projection: np.ndarray,
    vector_sums: np.ndarray,
    centred_sums: np.ndarray,
    index: int,
    constants: np.ndarray,
    popularity_thresholds: np.ndarray,
    mean_thresholds: np.ndarray,
    code_cells: np.ndarray,
    neuron_offsets: np.ndarray,
    static_addresses: np.ndarray,
    dynamic_codes: np.ndarray,
    cell_base: np.ndarray,
    addresses: np.ndarray,
    force: bool,
) -> bool:
    """Derive item ``index``'s dynamic code from its statistics (a hybrid network's); where it changed, or with
    ``force`` (its content bits changed), write its cell bases and addresses again. Returns whether the code changed."""
    count = counts[index]
    beta = constants[BETA]
    mean = (sums[index] + beta * constants[PRIOR_MEAN]) / (count + beta)
    centred_mean = centred_sums[index] / count / PROJECTION_SCALE if count else 0.0
    collab = 0
    for j in range(projection.shape[1]):
        if projection[index, j] - centred_mean * vector_sums[index, j] > 0:
            collab |= 1 << j
    code = (
        _levels_below(popularity_thresholds, count)
        | _levels_below(mean_thresholds, mean) << LEVEL_BITS
        | collab << (2 * LEVEL_BITS)
    )
    changed = code != dynamic_codes[index]
    if changed:
        dynamic_codes[index] = code
    if changed or force:
        for n in range(cell_base.shape[1]):
            base = static_addresses[index, n] + code_cells[code, n]
            cell_base[index, n] = base
            addresses[index, n] = base - neuron_offsets[n]
    return changed


@njit(cache=True, nogil=True)
def learn_rating(
    counts: np.ndarray,
    sums: np.ndarray,
    projection: np.ndarray,
    vector_sums: np.ndarray,
    centred_sums: np.ndarray,
    index: int,
    rating: float,
    centred: float,
    scaled_vector: np.ndarray,
    vector_units: np.ndarray,
    constants: np.ndarray,
    popularity_thresholds: np.ndarray,
    mean_thresholds: np.ndarray,
    code_cells: np.ndarray,
    neuron_offsets: np.ndarray,
    static_addresses: np.ndarray,
    dynamic_codes: np.ndarray,
    cell_base: np.ndarray,
    addresses: np.ndarray,
    keys: np.ndarray,
    values: np.ndarray,
    row_start: np.ndarray,
    row_length: np.ndarray,
    row_totals: np.ndarray,
    row_room: np.ndarray,
    row_used: np.ndarray,
    previous: int,
) -> int:
    """One rating's whole item side in one call: :func:`add_rating`, :func:`refresh_code`, and the transition from
    item ``previous`` (none if negative) counted in the next-item arena (:func:`wnn.kernels.next_items.add_count`).
    Returns what the count returned (its row's length, or ``ROW_FULL``: the arena is full; the caller makes it larger
    and counts it), 0 without a transition."""
    add_rating(counts, sums, projection, vector_sums, centred_sums, index, rating, centred, scaled_vector, vector_units)
    refresh_code(
        counts, sums, projection, vector_sums, centred_sums, index, constants, popularity_thresholds, mean_thresholds,
        code_cells, neuron_offsets, static_addresses, dynamic_codes, cell_base, addresses, False,
    )  # fmt: skip
    if previous < 0:
        return 0
    return add_count(keys, values, row_start, row_length, row_totals, row_room, row_used, previous, index, 1.0)


@njit(cache=True, nogil=True)
def refresh_codes(
    counts: np.ndarray,
    sums: np.ndarray,
    projection: np.ndarray,
    vector_sums: np.ndarray,
    centred_sums: np.ndarray,
    items: np.ndarray,
    constants: np.ndarray,
    popularity_thresholds: np.ndarray,
    mean_thresholds: np.ndarray,
    code_cells: np.ndarray,
    neuron_offsets: np.ndarray,
    static_addresses: np.ndarray,
    dynamic_codes: np.ndarray,
    cell_base: np.ndarray,
    addresses: np.ndarray,
) -> None:
    """:func:`refresh_code` of each of ``items``."""
    for index in items:
        refresh_code(
            counts, sums, projection, vector_sums, centred_sums, index, constants, popularity_thresholds,
            mean_thresholds, code_cells, neuron_offsets, static_addresses, dynamic_codes, cell_base, addresses, False,
        )  # fmt: skip
