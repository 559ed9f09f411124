"""Residual and user-centred ratings in exact fixed point.

* A pair's *residual* is its rating minus its item's global baseline, in steps of 1/256 star
  (:func:`residual_units`), so every table cell and every sum over pairs is a sum of integers: it does not depend on
  the order pairs were written or removed in.
* A rating's *user-centred value* is the rating minus the user's mean over their earlier ratings, shrunk toward the
  prior mean (:func:`centred_ratings`). It is what the rating adds, times the user's random vector, to its item's
  collaborative projection. It reads the user's own ratings only, so a forget elsewhere never changes it.

>>> quantize_residual(0.1234)
0.125
>>> int(residual_units(np.float32(4.0), 3.5))
128
>>> centred_ratings(np.array([4.0, 4.0, 2.0], dtype=np.float32), user_prior=1.0, prior_mean=3.0).tolist()
[1.0, 0.5, -1.66796875]
>>> centred_rating(2.0, rating_total=8.0, n=2, user_prior=1.0, prior_mean=3.0)
-1.66796875
"""

from __future__ import annotations

from typing import overload

import numpy as np

#: The fixed-point step of residuals (exact in float32 for sums of up to about 16,000 pairs).
RESIDUAL_QUANTUM = 1.0 / 256.0


@overload
def quantize_residual(residual: float) -> float: ...
@overload
def quantize_residual(residual: np.ndarray) -> np.ndarray: ...
def quantize_residual(residual: float | np.ndarray) -> float | np.ndarray:
    """Round a residual rating to the memory's fixed-point step."""
    if isinstance(residual, np.ndarray):
        return np.round(residual / RESIDUAL_QUANTUM) * RESIDUAL_QUANTUM
    return round(residual / RESIDUAL_QUANTUM) * RESIDUAL_QUANTUM


def residual_units(ratings: np.ndarray | np.float32, baselines: np.ndarray | float) -> np.ndarray:
    """Residuals ``rating - baseline`` in integer units of :data:`RESIDUAL_QUANTUM` (ratings are float32 values,
    baselines float64; rounded half to even)."""
    return np.rint((np.asarray(ratings, dtype=np.float64) - baselines) * 256.0).astype(np.int32)


def centred_ratings(ratings: np.ndarray, user_prior: float, prior_mean: float) -> np.ndarray:
    """Each rating minus the mean of the ratings before it, shrunk toward ``prior_mean`` by ``user_prior``
    pseudo-ratings, in the fixed-point step. Vectorised; the sums are exact (float32 values summed in float64), so
    this equals :func:`centred_rating` applied rating by rating."""
    n = len(ratings)
    values = ratings.astype(np.float64)
    before = np.concatenate(([0.0], np.cumsum(values)[:-1])) if n else values
    return quantize_residual(
        values - (before + user_prior * prior_mean) / (np.arange(n, dtype=np.float64) + user_prior)
    )


def centred_rating(rating: float, rating_total: float, n: int, user_prior: float, prior_mean: float) -> float:
    """:func:`centred_ratings` of the next rating of a user whose ``n`` earlier ratings sum to ``rating_total``."""
    return quantize_residual(rating - (rating_total + user_prior * prior_mean) / (n + user_prior))
