"""Always predict the same rating: the floor every model must clear."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np


class Constant:
    """Predicts ``value`` for everything; ranks all items equally (ties broken by item index).

    >>> Constant(4.0).predict_one("u", 3)
    4.0
    """

    def __init__(self, value: float = 4.0, n_items: int = 0) -> None:
        self.value = float(value)
        self.n_items = n_items

    def learn_one(self, user: Hashable, item: int, rating: float, ts: int, event_id: int) -> None:
        pass

    def predict_one(self, user: Hashable, item: int) -> float:
        return self.value

    def rank_scores(self, user: Hashable, ts: int) -> np.ndarray:
        return np.zeros(self.n_items)
