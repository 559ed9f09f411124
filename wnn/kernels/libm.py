"""The C library's ``exp``, ``exp2``, ``log1p`` and ``log2``, element by element, for the numpy reference.

numpy's own ``np.exp``, ``np.exp2``, ``np.log1p`` and ``np.log2`` are SIMD implementations that round differently
from the C library in the last bit for a few per cent of inputs (measured here: 7% of ``log1p``'s, 4.5% of ``exp``'s). A
compiled kernel calls the C library's (what :mod:`math` calls too), so the reference does the same wherever a
kernel is compared with it bit for bit. These loop in Python: the reference is the specification, not the fast path.

>>> exp(np.array([0.0, 1.0])).tolist() == [1.0, math.exp(1.0)]
True
"""

from __future__ import annotations

import math

import numpy as np


def exp(x: np.ndarray) -> np.ndarray:
    """``math.exp`` of each element."""
    return np.array([math.exp(v) for v in np.asarray(x, dtype=np.float64).tolist()], dtype=np.float64)


def exp2(x: np.ndarray) -> np.ndarray:
    """``math.exp2`` of each element (a compiled ``2.0 ** x`` becomes ``exp2`` too)."""
    return np.array([math.exp2(v) for v in np.asarray(x, dtype=np.float64).tolist()], dtype=np.float64)


def log1p(x: np.ndarray) -> np.ndarray:
    """``math.log1p`` of each element."""
    return np.array([math.log1p(v) for v in np.asarray(x, dtype=np.float64).tolist()], dtype=np.float64)


def log2(x: np.ndarray) -> np.ndarray:
    """``math.log2`` of each element (``-inf`` at zero and NaN for NaN, as ``np.log2`` gives them)."""
    return np.array(
        [math.log2(v) if v > 0 else (-math.inf if v == 0 else math.nan) for v in np.asarray(x, np.float64).tolist()],
        dtype=np.float64,
    )
