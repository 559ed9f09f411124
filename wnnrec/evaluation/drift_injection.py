"""A synthetic taste change, injected into a real ratings log, to measure how fast each model recovers from it.

A seeded ``fraction`` of the users with at least ``min_ratings`` ratings change taste half-way through their own
history: every rating they made after their own time midpoint (the middle of their first and last timestamp) is
inverted on the dataset's scale, ``r -> low + high - r`` (``6 - r`` on 1-5). A 3 stays a 3, so the *changed*
ratings are the flipped users' inverted ratings other than 3. Everything else (other users, the flipped users'
earlier ratings and their 3s) is *stable*.

>>> import numpy as np
>>> from wnnrec.datasets import Dataset
>>> log = Dataset("toy", users=np.array([0, 0, 0, 0], dtype=np.int32), items=np.arange(4, dtype=np.int32),
...               ratings=np.array([5, 4, 5, 3], dtype=np.float32), timestamps=np.arange(4, dtype=np.int64),
...               user_ids=["u"], item_ids=list("abcd"), item_titles=list("abcd"),
...               item_years=np.zeros(4, dtype=np.int32), item_genres=[()] * 4)
>>> drifted, marks = inject_drift(log, fraction=1.0, seed=0, min_ratings=4)
>>> drifted.ratings.tolist(), marks.changed.tolist(), marks.since_flip.tolist()
([5.0, 4.0, 1.0, 3.0], [False, False, True, False], [-1, -1, 0, 1])
"""

from __future__ import annotations

import dataclasses

import numpy as np

from wnnrec.datasets import Dataset

#: Buckets of "events since the user's flip" for the breakdown of the changed ratings.
SINCE_FLIP_BUCKETS: tuple[tuple[str, int, float], ...] = (
    ("0-4", 0, 4),
    ("5-9", 5, 9),
    ("10-19", 10, 19),
    ("20+", 20, np.inf),
)


@dataclasses.dataclass(frozen=True)
class DriftMarks:
    """Which events of the drifted log were changed, and how far into their user's new taste each event is.

    ``changed[k]`` is True for the flipped users' inverted ratings other than 3; ``since_flip[k]`` counts the user's
    events after their midpoint before event ``k`` (0 for the first), and is -1 for events before it and for
    users not flipped. ``flipped_users`` are the dense indices of the flipped users.
    """

    changed: np.ndarray
    since_flip: np.ndarray
    flipped_users: np.ndarray


def inject_drift(dataset: Dataset, fraction: float, seed: int, min_ratings: int = 60) -> tuple[Dataset, DriftMarks]:
    """A copy of ``dataset`` with a seeded share of its users' later ratings inverted, and the marks of what changed.

    Raises ValueError for a fraction outside (0, 1]. The original dataset is not modified.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"drift fraction must be in (0, 1], got {fraction}")
    users, stamps = dataset.users, dataset.timestamps
    counts = np.bincount(users, minlength=len(dataset.user_ids))
    eligible = np.flatnonzero(counts >= min_ratings)
    rng = np.random.default_rng(seed)
    n_flipped = round(fraction * len(eligible))
    flipped_users = np.sort(rng.choice(eligible, size=n_flipped, replace=False)) if n_flipped else eligible[:0]

    first = np.full(len(counts), np.iinfo(np.int64).max)
    last = np.full(len(counts), np.iinfo(np.int64).min)
    np.minimum.at(first, users, stamps)
    np.maximum.at(last, users, stamps)
    midpoint = (first + last) / 2.0
    is_flipped_user = np.zeros(len(counts), dtype=bool)
    is_flipped_user[flipped_users] = True
    after = is_flipped_user[users] & (stamps > midpoint[users])

    ratings = dataset.ratings.copy()
    ratings[after] = (dataset.scale.low + dataset.scale.high) - ratings[after]
    changed = after & (ratings != dataset.ratings)

    # Rank of each post-midpoint event within its user's post-midpoint events (the log is in time order).
    since_flip = np.full(len(users), -1, dtype=np.int64)
    positions = np.flatnonzero(after)
    if len(positions):
        order = np.argsort(users[positions], kind="stable")
        sorted_users = users[positions][order]
        starts = np.concatenate(([0], np.flatnonzero(np.diff(sorted_users)) + 1))
        run_start = np.repeat(starts, np.diff(np.append(starts, len(order))))
        since_flip[positions[order]] = np.arange(len(order)) - run_start
    drifted = dataclasses.replace(dataset, name=f"{dataset.name}+drift({fraction:g},seed={seed})", ratings=ratings)
    return drifted, DriftMarks(changed, since_flip, flipped_users)


def since_flip_bucket(since_flip: int) -> str:
    """The breakdown label of an event's distance from its user's flip."""
    for label, low, high in SINCE_FLIP_BUCKETS:
        if low <= since_flip <= high:
            return label
    raise ValueError(f"event before the flip ({since_flip})")
