"""The stars a deployment's ratings take, and every number of the model that depends on them.

A scale is its lowest and highest rating and its step: ML-100K rates 1-5 in whole stars, GroupLens ml-latest-small
0.5-5 in half stars. Validation (the loader, the model's calls, the topic's messages), the prediction clip, the item
mean thresholds, the prior mean, the like threshold and the like-accuracy metric all read it from here, so a dataset
is predicted on its own scale. The scale-dependent numbers are fixed *positions* on the scale, chosen on ML-100K's
1-5 (where they are the round numbers the model always used: prior mean 3.5, likes from 4); on another scale they
move with it, so the same ratings in other units give the same predictions in those units, up to the 1/256-star
rounding of residuals (``tests/wnn/test_rating_scale.py`` checks it on a rescaled copy of a stream).

>>> scale = RatingScale(0.5, 5.0, 0.5)
>>> scale.prior_mean, scale.like_threshold, scale.star
(3.3125, 3.875, 1.125)
>>> RatingScale().mean_thresholds
(2.75, 3.0, 3.25, 3.5, 3.75, 4.0)
>>> RatingScale.parse("0.5:5:0.5") == scale
True
>>> scale.rounded(np.array([3.2, 3.3, 0.1])).tolist()
[3.0, 3.5, 0.5]
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

#: Where the prior mean, the like threshold and the item-mean thermometer sit, as a share of the way from the lowest
#: to the highest rating (on 1-5: 3.5; 4; 2.75, 3.0, ..., 4.0).
PRIOR_MEAN_POSITION = 0.625
LIKE_POSITION = 0.75
MEAN_THRESHOLD_POSITIONS = (0.4375, 0.5, 0.5625, 0.625, 0.6875, 0.75)
#: The reference scale's span: a "star" is a quarter of the span, one whole star on 1-5.
_REFERENCE_SPAN = 4.0


@dataclasses.dataclass(frozen=True)
class RatingScale:
    """Lowest and highest rating, and the step between ratings (used to round a prediction to a rating).

    Every rating within ``[low, high]`` is accepted, on the step or not; the step only says what a prediction
    rounds to.
    """

    low: float = 1.0
    high: float = 5.0
    step: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and math.isfinite(self.step)):
            raise ValueError(f"a rating scale needs finite numbers, got {self.low}:{self.high}:{self.step}")
        if not self.low < self.high:
            raise ValueError(f"a rating scale's lowest rating must be below its highest, got {self.low}:{self.high}")
        if not 0 < self.step <= self.high - self.low:
            raise ValueError(f"a rating scale's step must be positive and within its span, got {self.step}")

    @classmethod
    def parse(cls, text: str) -> RatingScale:
        """``"LOW:HIGH"`` or ``"LOW:HIGH:STEP"`` (step 1 when left out), as the ``--rating-scale`` flag takes it."""
        parts = text.split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"a rating scale is LOW:HIGH or LOW:HIGH:STEP, for example 1:5 or 0.5:5:0.5; got {text!r}")
        try:
            numbers = [float(part) for part in parts]
        except ValueError:
            raise ValueError(f"a rating scale is made of numbers, for example 0.5:5:0.5; got {text!r}") from None
        return cls(*numbers)

    def __str__(self) -> str:
        """The ``LOW:HIGH:STEP`` text :meth:`parse` reads back exactly."""
        return ":".join(_shortest(number) for number in (self.low, self.high, self.step))

    @property
    def span(self) -> float:
        return self.high - self.low

    @functools.cached_property
    def star(self) -> float:
        """A quarter of the span: one star on the 1-5 scale. Rating differences (the like prior's slope, the drift
        detector's allowance and threshold, the ranking's rating weight) are measured in it."""
        return self.span / _REFERENCE_SPAN

    def position(self, share: float) -> float:
        """The rating ``share`` of the way from the lowest to the highest."""
        return self.low + share * self.span

    @functools.cached_property
    def prior_mean(self) -> float:
        """What an item's mean is shrunk toward before it has ratings (3.5 on 1-5)."""
        return self.position(PRIOR_MEAN_POSITION)

    @functools.cached_property
    def like_threshold(self) -> float:
        """A rating at or above it is a like (4 on 1-5; 3.875 on 0.5-5, so 4 and up in half stars)."""
        return self.position(LIKE_POSITION)

    @functools.cached_property
    def like_prediction_threshold(self) -> float:
        """A predicted rating at or above it predicts a like: half a step below the like threshold (3.5 on 1-5)."""
        return self.like_threshold - self.step / 2

    @functools.cached_property
    def mean_thresholds(self) -> tuple[float, ...]:
        """The thermometer thresholds of an item's mean rating (:class:`wnn.item_bits.BitLayout`)."""
        return tuple(self.position(share) for share in MEAN_THRESHOLD_POSITIONS)

    def contains(self, rating: float) -> bool:
        """Whether ``rating`` is within the scale (False for NaN)."""
        return self.low <= rating <= self.high

    def clip(self, rating: float) -> float:
        """A predicted rating, held within the scale."""
        return self.low if rating < self.low else self.high if rating > self.high else rating

    def clip_all(self, ratings: np.ndarray) -> np.ndarray:
        """:meth:`clip` over an array."""
        return np.clip(ratings, self.low, self.high)

    def rounded(self, ratings: np.ndarray) -> np.ndarray:
        """Predictions rounded to the nearest rating the scale has (a whole multiple of the step, within it)."""
        return self.clip_all(np.rint(np.asarray(ratings, dtype=np.float64) / self.step) * self.step)


def _shortest(number: float) -> str:
    text = repr(number)
    return text[:-2] if text.endswith(".0") else text


#: MovieLens' two scales: ML-100K and ML-1M rate 1-5 in whole stars, the ml-latest family 0.5-5 in half stars.
WHOLE_STARS = RatingScale(1.0, 5.0, 1.0)
HALF_STARS = RatingScale(0.5, 5.0, 0.5)
