"""All users' networks over one shared item space: the object a worker, a notebook and the evaluation drive.

The order inside :meth:`WNNRecommender.learn_one` matters and is the same everywhere: the user's network learns the
rating against the global baseline *before* the rating moves the global item statistics.

>>> rec = WNNRecommender()
>>> _ = rec.space.add_item("a", genres=("Drama",), year=1995)
>>> rec.learn_one("u1", "a", 4.0, ts=0, event_id=0)
>>> rec.predict_one("u1", "a").rating > 3.0
True
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from wnn.config import WNNConfig
from wnn.item_space import ItemSpace
from wnn.item_stats import user_partials
from wnn.network import Prediction, UserWNN
from wnn.validation import check_learn_call


def learn_user_event(model: UserWNN, idx: int, rating: float, ts: int, event_id: int) -> float:
    """The user's side of learning one new rating: count the next-item transition and write the user's tables.

    Returns the rating centred on what the global baseline and the user's bias expected *before* learning it, which
    the caller folds into the item's global statistics (directly, or as a share in the stream).
    """
    space = model.space
    previous = model.last_item_index if model.n_pairs else None
    centered = model.learn_index(idx, rating, ts, event_id)
    if previous is not None:
        space.add_transition(previous, idx)
    return centered


def user_contributions(user: Hashable, model: UserWNN) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Items, ratings and times of the user's stored pairs, and each pair's projection onto its item's
    collaborative code: everything the user adds to the global item statistics (copies, safe across a forget)."""
    items, ratings, stamps, centered = model.contributions()
    return items.copy(), ratings.copy(), stamps.copy(), model.space.projection_of(user, centered)


class WNNRecommender:
    """A dict of :class:`UserWNN` sharing one :class:`ItemSpace`."""

    def __init__(self, config: WNNConfig | None = None, space: ItemSpace | None = None) -> None:
        self.space = space or ItemSpace(config)
        self.config = self.space.config
        self.users: dict[Hashable, UserWNN] = {}

    def user(self, user: Hashable) -> UserWNN:
        """The user's network, created empty on first use."""
        model = self.users.get(user)
        if model is None:
            model = self.users[user] = UserWNN(self.space)
        return model

    def learn_one(self, user: Hashable, item: Hashable, rating: float, ts: int, event_id: int) -> None:
        """Learn one rating. Bad input raises :class:`wnn.validation.InvalidEvent` before anything changes: no
        user is created, no item registered, no transition counted."""
        rating, ts, event_id = check_learn_call(user, item, rating, ts, event_id)
        model = self.user(user)
        if model.knows(event_id):
            return
        idx = self.space.index(item)
        centered = learn_user_event(model, idx, rating, ts, event_id)
        self.space.update(idx, rating, centered, user, ts)

    def predict_one(self, user: Hashable, item: Hashable) -> Prediction:
        return self.user(user).predict_index(self.space.index(item))

    def recommend(self, user: Hashable, k: int = 10, ts: float | None = None) -> list[Hashable]:
        return self.user(user).score(ts=ts, k=k)[0]

    def forget(self, user: Hashable, event_id: int) -> bool:
        """Remove one rating from everything it fed: the user's network (exactly: its bytes equal never having
        learned it), and its direct contributions to the global item statistics (count, sum, collaborative
        projection, decayed popularity) and to the next-item counts. Returns False if the user holds no such rating.

        Not undone: ratings learned after it by this user or by others were centred on baselines that included it
        (``wnnrec audit unlearning`` measures what that leaves).
        """
        model = self.users.get(user)
        if model is None or not model.knows(event_id):
            return False
        before = user_contributions(user, model)
        model.forget(event_id)
        after = user_contributions(user, model)
        space, cfg = self.space, self.config
        space.add_sequence(before[0], -1.0)
        space.add_sequence(after[0], 1.0)
        changed = np.union1d(before[0], after[0]).tolist()
        old = user_partials(*before, changed, cfg.collab_bits, cfg.popularity_half_life_s)
        new = user_partials(*after, changed, cfg.collab_bits, cfg.popularity_half_life_s)
        for idx in changed:
            space.replace_partial(idx, old[idx], new[idx])
        return True
