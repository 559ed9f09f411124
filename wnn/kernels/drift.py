"""The taste shift of one user, compiled: the long-run genre mix kept up pair by pair, and the Jensen–Shannon
divergence between it and the recent mix (:mod:`wnn.drift` is the numpy reference, summed in the same order: each
mix row by row, oldest first, the normalisations and the divergence's terms in numpy's pairwise order, ``log2`` the
C library's).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from wnn.kernels.sums import pairwise_sum


@njit(cache=True, nogil=True)
def _add_mix(total: np.ndarray, bits: np.ndarray, item: int, slots: int, weight: float) -> None:
    """Add ``weight`` times the item's genre mix (its first ``slots`` bits over their count; nothing without genres)
    to ``total``. A weight of 1.0 adds the mix itself: multiplying by one is exact."""
    row_total = 0.0
    for s in range(slots):
        row_total += bits[item, s]
    for s in range(slots):
        total[s] = total[s] + weight * (bits[item, s] / row_total if row_total > 0 else 0.0)


@njit(cache=True, nogil=True)
def add_genre_mixes(bits: np.ndarray, slots: int, items: np.ndarray, start: int, stop: int, total: np.ndarray) -> None:
    """Add the genre mix of each pair ``start .. stop`` (its item's first ``slots`` bits over their count; nothing
    for an item without genres) to ``total``, oldest first (:meth:`wnn.derivation.Derivation.genre_mix_total`)."""
    for p in range(start, stop):
        _add_mix(total, bits, items[p], slots, 1.0)


@njit(cache=True, nogil=True)
def _divergence_terms(p: np.ndarray, m: np.ndarray) -> np.ndarray:
    terms = np.empty(len(p))
    for s in range(len(p)):
        terms[s] = p[s] * math.log2(p[s] / m[s]) if p[s] > 0 else 0.0
    return terms


@njit(cache=True, nogil=True)
def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """:func:`wnn.drift.js_divergence`."""
    p = p / pairwise_sum(p, 0, len(p))
    q = q / pairwise_sum(q, 0, len(q))
    m = 0.5 * (p + q)
    kl_p = pairwise_sum(_divergence_terms(p, m), 0, len(p))
    kl_q = pairwise_sum(_divergence_terms(q, m), 0, len(q))
    return max(0.5 * (kl_p + kl_q), 0.0)


@njit(cache=True, nogil=True)
def recent_shift(
    bits: np.ndarray, slots: int, items: np.ndarray, n: int, long_run: np.ndarray, weights: np.ndarray
) -> float:
    """:func:`wnn.drift.recent_shift` of the pairs ``0 .. n`` (their ``items``): the recent mix of the newest
    ``len(weights)`` pairs, weighted by ``weights`` (:func:`wnn.drift.recent_weights`), against ``long_run``."""
    span = len(weights)
    if not span:
        return 0.0
    recent = np.zeros(slots)
    for j in range(span):
        _add_mix(recent, bits, items[n - span + j], slots, weights[j])
    if not pairwise_sum(recent, 0, slots) or not pairwise_sum(long_run, 0, slots):
        return 0.0
    return js_divergence(recent, long_run)
