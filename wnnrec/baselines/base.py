"""The learn/predict/rank protocol every model in the evaluation honours, River style."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

import numpy as np


class Recommender(Protocol):
    """A streaming rating model: predict first, then learn, one event at a time."""

    def learn_one(self, user: Hashable, item: int, rating: float, ts: int, event_id: int) -> None:
        """Update the model with one rating."""

    def predict_one(self, user: Hashable, item: int) -> float:
        """The expected rating of ``item`` for ``user``."""

    def rank_scores(self, user: Hashable, ts: int) -> np.ndarray:
        """A score per item (dense index order): higher is recommended first. Rated items are removed by the caller."""
