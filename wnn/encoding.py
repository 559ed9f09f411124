"""Binary encodings of item features: the WNN only reads bits.

Two tools:

* :class:`CategoryBucketer` maps category strings (genres) onto a fixed set of bit slots. A value never seen when the
  vocabulary was frozen is bucketed deterministically onto one of the known slots ("embedding bucketing" in the
  paper), so a new genre in the stream never changes the width of the input or needs a network service.
* :func:`thermometer` turns numbers into thermometer codes, so nearby values share most of their bits.

>>> b = CategoryBucketer(["Action", "Comedy", "Drama"])
>>> b.slot("Comedy")
1
>>> b.slot("Afrofuturism") == b.slot("Afrofuturism")   # stable across calls and processes
True
>>> thermometer(3.6, (3.0, 3.5, 4.0)).tolist()
[1, 1, 0]
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Sequence

import numpy as np

#: The 19 MovieLens-100K genres, in GroupLens order: the default vocabulary.
MOVIELENS_GENRES: tuple[str, ...] = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

#: Spelling variants across MovieLens releases, folded before lookup.
_GENRE_ALIASES = {
    "children": "children's",
    "childrens": "children's",
    "sci fi": "sci-fi",
    "scifi": "sci-fi",
    "film noir": "film-noir",
    "(no genres listed)": "unknown",
}


def stable_hash(key: Hashable) -> int:
    """A 64-bit hash of ``repr(key)`` that is the same in every process (Python's ``hash`` of a str is salted per
    process): item tie keys and users' random vectors derive from it."""
    return int.from_bytes(hashlib.blake2b(repr(key).encode("utf-8"), digest_size=8).digest(), "little")


def _normalise(value: str) -> str:
    key = value.strip().lower()
    return _GENRE_ALIASES.get(key, key)


class CategoryBucketer:
    """Deterministic category-to-slot map with hashing fallback for unseen values.

    Parameters
    ----------
    vocabulary
        Known values, one slot each, in order. At most ``n_slots`` of them.
    n_slots
        Number of bits. Defaults to the vocabulary size.
    """

    def __init__(self, vocabulary: Sequence[str] = MOVIELENS_GENRES, n_slots: int | None = None) -> None:
        self.n_slots = n_slots or len(vocabulary)
        if len(vocabulary) > self.n_slots:
            raise ValueError(f"{len(vocabulary)} known categories do not fit in {self.n_slots} slots")
        self._known = {_normalise(v): i for i, v in enumerate(vocabulary)}

    def slot(self, value: str) -> int:
        """The bit a category value sets. Unknown values hash (blake2b, not Python's salted hash) onto a slot."""
        key = _normalise(value)
        known = self._known.get(key)
        if known is not None:
            return known
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "little") % self.n_slots

    def encode(self, values: Iterable[str]) -> np.ndarray:
        """Multi-hot bits of a set of category values."""
        bits = np.zeros(self.n_slots, dtype=np.uint8)
        for v in values:
            bits[self.slot(v)] = 1
        return bits


def thermometer(value: float | np.ndarray, thresholds: Sequence[float] | np.ndarray) -> np.ndarray:
    """Thermometer code: bit j is set when ``value >= thresholds[j]``. Vectorised over an array of values."""
    v = np.asarray(value, dtype=np.float64)
    return (v[..., None] >= np.asarray(thresholds, dtype=np.float64)).astype(np.uint8)


#: Thermometer thresholds of the item features (chosen from the feature's range, not tuned on test data). The item
#: mean's come from the rating scale (:attr:`wnn.rating_scale.RatingScale.mean_thresholds`).
YEAR_THRESHOLDS = (1960.0, 1980.0, 1990.0, 1995.0, 1997.0)
POPULARITY_THRESHOLDS = (1.0, 3.0, 10.0, 30.0, 100.0, 250.0)
