"""Residual ratings in exact fixed point, and their centring on the user's bias.

A pair's residual is its rating minus the global item baseline. Residuals are kept in steps of 1/256 star, so every
table cell and every sum over pairs is a sum of exactly representable numbers: it does not depend on the order in
which pairs were written or removed, and forgetting subtracts exactly what learning added.

>>> quantize_residual(0.1234)
0.125
>>> centered_residuals(np.array([1.0, 1.0, -1.0], dtype=np.float32), user_prior=1.0).tolist()
[1.0, 0.5, -1.66796875]
"""

from __future__ import annotations

import numpy as np

#: The fixed-point step of residuals (exact in float32 for sums of up to about 16,000 pairs).
RESIDUAL_QUANTUM = 1.0 / 256.0


def quantize_residual(residual: float | np.ndarray) -> float | np.ndarray:
    """Round a residual rating to the memory's fixed-point step."""
    if isinstance(residual, np.ndarray):
        return np.round(residual / RESIDUAL_QUANTUM) * RESIDUAL_QUANTUM
    return round(residual / RESIDUAL_QUANTUM) * RESIDUAL_QUANTUM


def centered_residuals(residuals: np.ndarray, user_prior: float) -> np.ndarray:
    """Each pair's residual minus the user's bias over the pairs before it (the bias neuron's shrunk mean), in the
    memory's fixed-point step. Vectorised; the sums are exact, so this equals what learning computed pair by pair."""
    n = len(residuals)
    res = residuals.astype(np.float64)
    before = np.concatenate(([0.0], np.cumsum(res)[:-1])) if n else res
    return quantize_residual(res - before / (np.arange(n, dtype=np.float64) + user_prior))
