"""What followed the user's last item in everyone's sequences so far: the global item-to-item sequence baseline.

The simplest model of "what comes next": count, over all users' streams, how often each item came right after each
other item in the same user's stream, and rank for a user the items that most often followed their newest one. Ties
(and users with no item yet) are ranked by popularity. Its rating prediction is the item's running mean, as
:class:`~wnnrec.baselines.popularity.Popularity`'s.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable

import numpy as np

from wnnrec.baselines.popularity import Popularity


class GlobalSequence:
    """Ranks items by how often they followed the user's last item in everyone's sequences, ties by popularity.

    >>> seq = GlobalSequence(n_items=4)
    >>> for user, item in [("ann", 0), ("ann", 2), ("bob", 0), ("bob", 2), ("cat", 3), ("dan", 3), ("eve", 0)]:
    ...     seq.learn_one(user, item, 5.0, 0, 0)

    Item 2 followed item 0 twice; neither 0 nor 3 ever did, and 0 is the more popular of them:

    >>> np.argsort(-seq.rank_scores("eve", 0), kind="stable").tolist()
    [2, 0, 3, 1]

    A user with no item yet gets the popularity ranking:

    >>> np.argsort(-seq.rank_scores("fay", 0), kind="stable").tolist()
    [0, 2, 3, 1]
    """

    def __init__(self, n_items: int, prior_mean: float = 3.5) -> None:
        self.n_items = n_items
        self.popularity = Popularity(n_items, prior_mean)
        self.following: defaultdict[int, Counter[int]] = defaultdict(Counter)  # item -> {next item: count}
        self.last: dict[Hashable, int] = {}  # each user's newest item

    def learn_one(self, user: Hashable, item: int, rating: float, ts: int, event_id: int) -> None:
        previous = self.last.get(user)
        if previous is not None:
            self.following[previous][item] += 1
        self.last[user] = item
        self.popularity.learn_one(user, item, rating, ts, event_id)

    def predict_one(self, user: Hashable, item: int) -> float:
        return self.popularity.predict_one(user, item)

    def rank_scores(self, user: Hashable, ts: int) -> np.ndarray:
        """The count of each item after the user's last one, plus its popularity share: below 1, so it only orders
        items with equal counts."""
        scores = self.popularity.counts / (self.popularity.n + 1)
        successors = self.following.get(self.last.get(user, -1))
        if successors:
            scores[np.fromiter(successors.keys(), dtype=np.int64)] += np.fromiter(successors.values(), dtype=np.float64)
        return scores
