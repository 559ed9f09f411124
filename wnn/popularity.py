"""Time-decayed popularity as an exact integer, so that it is a function of which ratings exist, not of their order.

An item's popularity at time ``t`` is ``sum over its ratings of 2 ** ((ts - t) / half_life)``: each rating counts 1
when it happens and half as much a half-life later. A float sum of those terms depends on the order the ratings
were added and removed in its last bits, so a forgotten rating would leave a trace. Here each rating adds the exact
integer :func:`weight` ``~ 2 ** (ts / half_life + FRACTION_BITS)`` to the item's accumulator (a Python int: sums
and differences of integers are exact in any order), and the popularity at ``t`` is derived from the accumulator by
:func:`log2_popularity`, the same float computation wherever the accumulator is equal.

The accumulator of an item rated around 2020 has about 1,450 bits (``ts / half_life`` for a 14-day half-life); an
addition costs well under a microsecond.

>>> half_life = 86400.0
>>> a = weight(0, half_life) + weight(86400, half_life)
>>> b = weight(86400, half_life) + weight(0, half_life)
>>> a == b, round(2 ** (log2_popularity(a) - 86400 / half_life), 6)
(True, 1.5)
>>> round(2 ** (log2_popularity(a - weight(0, half_life)) - 86400 / half_life), 6)
1.0
"""

from __future__ import annotations

import math

#: Binary digits kept below the unit of a rating's weight at time 0 (relative precision of a weight: 2**-52).
FRACTION_BITS = 52


def weight(ts: float, half_life_s: float) -> int:
    """The exact integer one rating at event time ``ts`` adds to its item's popularity accumulator:
    ``round(2 ** (ts / half_life_s + FRACTION_BITS))`` up to the precision of a float mantissa (the same integer in
    every process: it is computed from ``ts`` with a fixed sequence of float operations)."""
    exponent = ts / half_life_s
    whole = math.floor(exponent)
    mantissa = round(2.0 ** (exponent - whole) * (1 << FRACTION_BITS))  # in [2**52, 2**53]
    shift = whole
    return mantissa << shift if shift >= 0 else mantissa >> -shift


def log2_popularity(accumulator: int) -> float:
    """``log2`` of the popularity at time 0 implied by an accumulator (``-inf`` for none): the popularity at ``t`` is
    ``2 ** (log2_popularity(a) - t / half_life)``."""
    if accumulator <= 0:
        return -math.inf
    return math.log2(accumulator) - FRACTION_BITS


def to_bytes(accumulator: int) -> bytes:
    """The accumulator as little-endian bytes (for msgpack, which holds integers of 64 bits at most)."""
    return accumulator.to_bytes((accumulator.bit_length() + 8) // 8, "little", signed=True)


def from_bytes(data: bytes) -> int:
    return int.from_bytes(data, "little", signed=True)
