"""What a River context ``x`` says about an event: when it happened, and the item's genres and release year.

River's datasets pass everything but the user, the item and the target in ``x``. Its ``MovieLens100K`` yields, for
each rating, times as integer nanoseconds since the epoch and the genres as one lowercase string::

    {"timestamp": 874731910000000000, "release_date": 866764800000000000, "genres": "comedy, romance", ...}

:func:`read_context` turns such a context, or this project's own ``ts`` (Unix seconds), into what the WNN learns
from; a field that is absent reads as None (the caller's default applies).

>>> read_context({"timestamp": 874731910000000000, "release_date": 866764800000000000, "genres": "comedy, romance"})
Context(ts=874731910, genres=('comedy', 'romance'), year=1997)
>>> read_context({"ts": 874731910, "genres": ["Comedy", "Romance"]})
Context(ts=874731910, genres=('Comedy', 'Romance'), year=None)
>>> read_context({})
Context(ts=None, genres=None, year=None)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from wnn.validation import InvalidEvent

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS = 1_000_000_000
_TIME = "must be integer nanoseconds since the epoch (River's datasets) or a datetime"


class Context(NamedTuple):
    """The parts of a River context the WNN reads; None where the context does not say."""

    #: The event's time in Unix seconds (``x["ts"]`` as given, else ``x["timestamp"]`` converted).
    ts: Any
    #: The item's genre names, as given (the item space matches them to its genres case-insensitively).
    genres: tuple[str, ...] | None
    #: The item's release year.
    year: int | None

    @property
    def describes_item(self) -> bool:
        """Whether the context carries the item's content (its genres or its year)."""
        return self.genres is not None or self.year is not None


def read_context(x: Mapping[str, Any]) -> Context:
    """The event time, genres and release year of a River context (see the module docstring). ``ts`` (Unix seconds)
    wins over ``timestamp``; a time or genres of a type River never passes raises
    :class:`~wnn.validation.InvalidEvent`."""
    ts = x.get("ts")
    if ts is None and x.get("timestamp") is not None:
        ts = unix_seconds(x["timestamp"], "timestamp")
    genres = x.get("genres")
    release = x.get("release_date")
    return Context(
        ts,
        None if genres is None else genre_names(genres),
        None if release is None else as_datetime(release, "release_date").year,
    )


def as_datetime(value: Any, field: str) -> datetime:
    """A River time as an aware datetime: integer nanoseconds since the epoch, or a datetime (naive ones are UTC).

    >>> as_datetime(-1_000_000_000, "release_date").isoformat()  # films older than 1970 have negative dates
    '1969-12-31T23:59:59+00:00'
    """
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        seconds, nanoseconds = divmod(int(value), _NS)
        return _EPOCH + timedelta(seconds=seconds, microseconds=nanoseconds // 1000)
    raise InvalidEvent(field, value, _TIME)


def unix_seconds(value: Any, field: str = "timestamp") -> int:
    """A River time (:func:`as_datetime`) as whole Unix seconds, rounded down.

    >>> unix_seconds(874731910000000000), unix_seconds(datetime(1997, 9, 20, 5, 5, 10))
    (874731910, 874731910)
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value) // _NS
    return math.floor((as_datetime(value, field) - _EPOCH).total_seconds())


def genre_names(value: Any) -> tuple[str, ...]:
    """Genre names from River's comma-separated string, or from a list of names; blanks around names dropped.

    >>> genre_names("animation, children's, comedy"), genre_names(["Sci-Fi ", ""])
    (('animation', "children's", 'comedy'), ('Sci-Fi',))
    """
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple, set, frozenset)) or not all(isinstance(n, str) for n in names):
        raise InvalidEvent("genres", value, "must be a comma-separated string or a list of strings")
    stripped = (name.strip() for name in (sorted(names) if isinstance(names, (set, frozenset)) else names))
    return tuple(name for name in stripped if name)
