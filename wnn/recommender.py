"""All users' networks over one shared item space: the object a worker, a notebook and the evaluation drive.

Learning and forgetting go through :func:`wnn.contributions.learn_event` and :func:`wnn.contributions.forget_events`,
the same functions the stream's processor calls, so both move the global item statistics alike.

>>> rec = WNNRecommender()
>>> _ = rec.space.add_item("a", genres=("Drama",), year=1995)
>>> rec.learn_one("u1", "a", 4.0, ts=0, event_id=0)
>>> rec.predict_one("u1", "a").rating > 3.0
True
"""

from __future__ import annotations

from collections.abc import Hashable

from wnn.config import WNNConfig
from wnn.contributions import forget_events, learn_event
from wnn.feedback import implicit_rating
from wnn.item_space import ItemSpace
from wnn.network import Prediction, UserWNN
from wnn.validation import check_learn_call


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
        rating, ts, event_id = check_learn_call(user, item, rating, ts, event_id, self.space.config.rating_scale)
        model = self.user(user)
        if model.knows(event_id):
            return
        learn_event(self.space, user, model, self.space.index(item), rating, ts, event_id)

    def learn_implicit(self, user: Hashable, item: Hashable, ts: int, event_id: int, liked: bool = True) -> None:
        """Learn an event without stars: a like, a play, a click (``liked``), or a skip (``liked=False``), as the
        scale's highest or lowest rating (:func:`wnn.feedback.implicit_rating`); otherwise as :meth:`learn_one`.

        >>> rec = WNNRecommender()
        >>> rec.learn_implicit("ann", "a", ts=0, event_id=1)
        >>> rec.user("ann").pairs()[0]["rating"]
        5.0
        """
        self.learn_one(user, item, implicit_rating(liked, self.space.config.rating_scale), ts, event_id)

    def predict_one(self, user: Hashable, item: Hashable) -> Prediction:
        return self.user(user).predict_index(self.space.index(item))

    def recommend(self, user: Hashable, k: int = 10, ts: float | None = None) -> list[Hashable]:
        return self.user(user).score(ts=ts, k=k)[0]

    def forget(self, user: Hashable, event_id: int) -> bool:
        """Remove one rating from everything it fed: the user's pairs, the global item statistics and the next-item
        counts. Everything else is derived from those, so afterwards the whole system equals one that never learned
        the rating (:mod:`wnn.system_state`; tested by property, audited by ``wnnrec audit unlearning``). Returns
        False if the user holds no such rating."""
        model = self.users.get(user)
        if model is None or not model.knows(event_id):
            return False
        forget_events(self.space, user, model, [event_id])
        return True

    def forget_item(self, user: Hashable, item: Hashable) -> list[int]:
        """Remove every rating the user gave ``item`` (see :meth:`forget`); returns their event ids (none if the
        user never rated it)."""
        model = self.users.get(user)
        if model is None:
            return []
        event_ids = model.event_ids_of(item)
        if event_ids:
            forget_events(self.space, user, model, event_ids)
        return event_ids

    def forget_user(self, user: Hashable) -> list[int]:
        """Erase the user: every rating they gave leaves everything it fed (see :meth:`forget`), and the user is
        dropped, so the whole system equals one that never saw them. Returns the erased event ids (none for an
        unknown user).

        >>> rec = WNNRecommender()
        >>> rec.learn_one("ann", "a", 5.0, ts=0, event_id=1)
        >>> rec.learn_one("bob", "a", 3.0, ts=9, event_id=2)
        >>> rec.forget_user("ann"), sorted(rec.users), int(rec.space.counts[rec.space.index("a")])
        ([1], ['bob'], 1)
        """
        model = self.users.pop(user, None)
        if model is None:
            return []
        event_ids = model.pair_log.event_ids.tolist()
        if event_ids:
            forget_events(self.space, user, model, event_ids)
        return event_ids
