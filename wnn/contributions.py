"""What one user's stored pairs add to the global side of the model, and the one place where that changes.

Every rating feeds, besides its user's own network, the global item statistics (count, rating sum, collaborative
projection, decayed popularity) and the global next-item counts (the user's consecutive pairs). When a user's
pairs change other than by appending one (a forget, an eviction by ``max_pairs``), :func:`apply_change` takes the
user's old contribution out of the item space and puts the new one in, exactly for the counts, sums, projections and
transitions. The library's :class:`~wnn.recommender.WNNRecommender` and the stream's processor both change a user's
pairs only through :func:`learn_event` and :func:`forget_events`, so both decide the same thing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable

import numpy as np

from wnn.item_space import ItemSpace
from wnn.item_stats import ItemPartial, user_partials
from wnn.network import Learned, UserWNN


@dataclasses.dataclass(frozen=True)
class Contribution:
    """A user's stored pairs as the item statistics see them, oldest first: dense item indices, ratings, times and
    each pair's projection onto its item's collaborative code (copies, safe across later changes of the user)."""

    items: np.ndarray
    ratings: np.ndarray
    stamps: np.ndarray
    projections: np.ndarray

    @classmethod
    def of(cls, user: Hashable, model: UserWNN) -> "Contribution":
        items, ratings, stamps, centered = model.contributions()
        return cls(items.copy(), ratings.copy(), stamps.copy(), model.space.projection_of(user, centered))

    def partials(self, indices: Iterable[int], space: ItemSpace) -> dict[int, ItemPartial]:
        """The contribution to each of ``indices`` as an item-statistics share."""
        cfg = space.config
        return user_partials(self.items, self.ratings, self.stamps, self.projections, indices, cfg.collab_bits,
                             cfg.popularity_half_life_s)


@dataclasses.dataclass(frozen=True)
class ContributionChange:
    """A user's contribution before and after a change of their pairs."""

    before: Contribution
    after: Contribution

    @property
    def items(self) -> list[int]:
        """The items whose statistics the change moves."""
        return np.union1d(self.before.items, self.after.items).tolist()


def apply_change(space: ItemSpace, change: ContributionChange) -> None:
    """Swap a user's old contribution for the new one in the item statistics and the next-item counts."""
    space.add_sequence(change.before.items, -1.0)
    space.add_sequence(change.after.items, 1.0)
    changed = change.items
    old, new = change.before.partials(changed, space), change.after.partials(changed, space)
    for idx in changed:
        space.replace_partial(idx, old[idx], new[idx])


def learn_event(space: ItemSpace, user: Hashable, model: UserWNN, idx: int, rating: float, ts: int,
                event_id: int) -> Learned:
    """Learn one new rating everywhere it goes: the user's network, the next-item counts and the item statistics.

    The user's network learns the rating against the global baseline *before* the rating moves the item statistics.
    The returned :class:`Learned` carries the rating's ``projection`` (what it added to its item's collaborative
    projection) or, when learning evicted old pairs, the user's contribution ``change`` (already applied here).
    Bad input raises :class:`wnn.validation.InvalidEvent` before anything changes.
    """
    if model.knows(event_id):
        return model.learn_index(idx, rating, ts, event_id)  # a duplicate: validated, changes nothing
    previous = model.last_item_index if model.n_pairs else None
    before = Contribution.of(user, model) if model.will_evict() else None
    learned = model.learn_index(idx, rating, ts, event_id)
    if learned.evicted:
        # The rating's own contribution is in ``after``; the transition into it was never counted.
        change = ContributionChange(before, Contribution.of(user, model))
        apply_change(space, change)
        return dataclasses.replace(learned, change=change)
    if previous is not None:
        space.add_transition(previous, idx)
    projection = space.update(idx, rating, learned.centered, user, ts)
    return dataclasses.replace(learned, projection=projection)


def forget_events(space: ItemSpace, user: Hashable, model: UserWNN, event_ids: Iterable[int]) -> ContributionChange:
    """Remove the user's pairs with these event ids (each must be stored) from the network, the item statistics and
    the next-item counts. Returns the user's contribution change, already applied to ``space``."""
    before = Contribution.of(user, model)
    for event_id in event_ids:
        if not model.forget(event_id):
            raise KeyError(f"user {user!r} holds no rating with event id {event_id}")
    change = ContributionChange(before, Contribution.of(user, model))
    apply_change(space, change)
    return change
