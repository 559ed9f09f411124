"""The model's input boundary: what a rating event may hold, checked before anything changes.

Every learning entry point (:meth:`wnn.network.UserWNN.learn_one`, :meth:`wnn.recommender.WNNRecommender.learn_one`)
calls :func:`check_rating_event` first, so a refused call leaves
no trace: no user created, no item registered, no event id marked as seen, no transition counted. A corrected retry
then learns normally.

Ratings are checked against the model's :class:`~wnn.rating_scale.RatingScale`.

>>> from wnn.rating_scale import HALF_STARS, WHOLE_STARS
>>> check_rating_event(4, 881250949, 7, WHOLE_STARS)
(4.0, 881250949, 7)
>>> check_rating_event(0.5, 881250949, 7, WHOLE_STARS)
Traceback (most recent call last):
...
wnn.validation.InvalidEvent: rating = 0.5: must be a finite number within 1..5
>>> check_rating_event(0.5, 881250949, 7, HALF_STARS)
(0.5, 881250949, 7)
>>> check_rating_event(4, -1e20, 7, WHOLE_STARS)
Traceback (most recent call last):
...
wnn.validation.InvalidEvent: ts = -1e+20: must be an integral number of Unix seconds within 0..100000000000
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable
from typing import Any

from wnn.rating_scale import RatingScale

#: Event times are Unix seconds within [0, MAX_TS] (year 5138): anything else is a unit or encoding error.
MAX_TS = 10**11
#: Event ids, and integer item ids, are signed 64-bit integers (what the stored state can hold).
MIN_INT64, MAX_INT64 = -(2**63), 2**63 - 1
#: Longest string item or user id, in characters.
MAX_ID_LENGTH = 256


class InvalidEvent(ValueError):
    """An input the model refuses; nothing was changed. ``field`` and ``value`` name what was wrong."""

    def __init__(self, field: str, value: Any, requirement: str) -> None:
        self.field, self.value = field, value
        shown = repr(value) if not isinstance(value, str) or len(value) <= 40 else repr(value[:40] + "...")
        super().__init__(f"{field} = {shown}: {requirement}")


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_rating(rating: Any, scale: RatingScale) -> float:
    if type(rating) is float and scale.low <= rating <= scale.high:  # the common case, cheaply (NaN fails here)
        return rating
    if not _is_real(rating) or not math.isfinite(rating) or not scale.contains(rating):
        raise InvalidEvent("rating", rating, f"must be a finite number within {scale.low:g}..{scale.high:g}")
    return float(rating)


def check_ts(ts: Any) -> int:
    if type(ts) is int and 0 <= ts <= MAX_TS:
        return ts
    if not _is_real(ts) or not math.isfinite(ts) or not 0 <= ts <= MAX_TS or int(ts) != ts:
        raise InvalidEvent("ts", ts, f"must be an integral number of Unix seconds within 0..{MAX_TS}")
    return int(ts)


def check_event_id(event_id: Any) -> int:
    if type(event_id) is int and MIN_INT64 <= event_id <= MAX_INT64:
        return event_id
    if (
        not isinstance(event_id, numbers.Integral)
        or isinstance(event_id, bool)
        or not MIN_INT64 <= int(event_id) <= MAX_INT64
    ):
        raise InvalidEvent("event_id", event_id, "must be a signed 64-bit integer")
    return int(event_id)


def check_id(value: Any, field: str = "item") -> Hashable:
    """An item (or user) id must be a string of at most MAX_ID_LENGTH characters or a 64-bit integer."""
    kind = type(value)
    if (kind is int and MIN_INT64 <= value <= MAX_INT64) or (kind is str and 0 < len(value) <= MAX_ID_LENGTH):
        return value  # the common cases, cheaply
    if isinstance(value, str):
        if not value or len(value) > MAX_ID_LENGTH:
            raise InvalidEvent(field, value, f"must be a non-empty string of at most {MAX_ID_LENGTH} characters")
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if not MIN_INT64 <= int(value) <= MAX_INT64:
            raise InvalidEvent(field, value, "an integer id must fit in 64 bits")
        return int(value)
    raise InvalidEvent(field, value, "must be a string or an integer")


def check_rating_event(rating: Any, ts: Any, event_id: Any, scale: RatingScale) -> tuple[float, int, int]:
    """Check one rating event's numbers, the rating against ``scale``; returns ``(rating, ts, event_id)``
    normalised, or raises :class:`InvalidEvent` naming the first bad field. Ids are checked by :func:`check_id`."""
    return check_rating(rating, scale), check_ts(ts), check_event_id(event_id)


def check_learn_call(
    user: Any, item: Any, rating: Any, ts: Any, event_id: Any, scale: RatingScale
) -> tuple[float, int, int]:
    """All of :meth:`wnn.recommender.WNNRecommender.learn_one`'s arguments in one call (it runs on every event, so
    the common case is one expression); returns ``(rating, ts, event_id)`` normalised."""
    if (
        type(rating) is float
        and scale.low <= rating <= scale.high
        and type(ts) is int
        and 0 <= ts <= MAX_TS
        and type(event_id) is int
        and MIN_INT64 <= event_id <= MAX_INT64
        and (
            (type(user) is int and MIN_INT64 <= user <= MAX_INT64)
            or (type(user) is str and 0 < len(user) <= MAX_ID_LENGTH)
        )
        and (
            (type(item) is int and MIN_INT64 <= item <= MAX_INT64)
            or (type(item) is str and 0 < len(item) <= MAX_ID_LENGTH)
        )
    ):
        return rating, ts, event_id
    check_id(user, "user")
    check_id(item)
    return check_rating_event(rating, ts, event_id, scale)
