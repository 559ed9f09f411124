"""Implicit feedback: an event without stars (a like, a play, a click) as the rating the model learns.

Most event streams carry no stars. A positive implicit event (unary, or a boolean ``True``) is learned as the
highest rating of the deployment's scale, a negative one (boolean ``False``: skipped, disliked) as the lowest; both
are then stored, ranked, explained and forgotten exactly like any rating. The ranking's popularity, sequence and
affinity terms need no stars at all; with only positive events the rating and like terms say little (an item's
baseline still leans, from the prior mean, toward its count of likes), so a stream of unary events is ranked by what
was chosen, in what order and by whom.

>>> from wnn.rating_scale import WHOLE_STARS
>>> implicit_rating(True, WHOLE_STARS), implicit_rating(False, WHOLE_STARS)
(5.0, 1.0)
>>> implicit_rating(1, WHOLE_STARS)
Traceback (most recent call last):
...
wnn.validation.InvalidEvent: liked = 1: must be a boolean (true: a like, a play, a click; false: a skip or dislike)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wnn.rating_scale import RatingScale
from wnn.validation import InvalidEvent


def implicit_rating(liked: Any, scale: RatingScale) -> float:
    """The rating an implicit event is learned as: the scale's highest for ``True``, its lowest for ``False``.
    Anything but a boolean raises :class:`~wnn.validation.InvalidEvent`."""
    if not isinstance(liked, (bool, np.bool_)):
        raise InvalidEvent(
            "liked", liked, "must be a boolean (true: a like, a play, a click; false: a skip or dislike)"
        )
    return scale.high if liked else scale.low
