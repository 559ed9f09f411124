"""What one user's stored pairs add to the global side of the model, and the one place where that changes.

Every rating feeds, besides its user's own network, the global item statistics (:mod:`wnn.item_stats`: count, rating
total, collaborative projection, popularity) and the global next-item counts (the user's consecutive pairs). Both
are exact sums over the stored pairs. The library's :class:`~wnn.recommender.WNNRecommender` and the stream's
processor change a user's pairs only through :func:`learn_event` (one rating), :func:`learn_run` (a run of one
user's ratings, the same as :func:`learn_event` of each) and :func:`forget_events` (an eviction by ``max_pairs`` is
a forget of the oldest pairs), so both keep the global side equal to what the stored pairs add up to, whatever
happened before.

>>> from wnn.item_space import ItemSpace
>>> from wnn.network import UserWNN
>>> space = ItemSpace()
>>> user = UserWNN(space)
>>> _ = learn_event(space, "u", user, space.index("a"), 5.0, ts=0, event_id=1)
>>> _ = learn_event(space, "u", user, space.index("b"), 3.0, ts=60, event_id=2)
>>> _ = forget_events(space, "u", user, [1])
>>> int(space.counts[space.index("a")]), int(space.counts[space.index("b")]), space.next_items.n_pairs
(0, 1, 0)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import NamedTuple

import numpy as np

from wnn.item_space import ItemSpace
from wnn.item_stats import ContributionChange, Contributions
from wnn.kernels import runs
from wnn.network import DUPLICATE, Learned, UserWNN


def user_contributions(space: ItemSpace, user: Hashable, model: UserWNN, start: int = 0) -> Contributions:
    """What the user's stored pairs from position ``start`` on add to the item statistics (its own copies, safe
    across later changes of the user)."""
    log = model.pair_log
    return space.contributions(
        user, log.items[start:], log.ratings[start:], log.ts[start:], model.centred_ratings()[start:]
    )


def apply_change(space: ItemSpace, change: ContributionChange) -> None:
    """Swap a user's old contribution for the new one in the item statistics and the next-item counts.

    Only what differs moves: each item whose share changed takes the difference once (the sums are exact, so that
    equals taking the old share out and putting the new one in), all in one vectorised step, and each consecutive
    pair whose count in the user's sequence changed takes the difference of its counts. A forget changes the centred
    values of the ratings after it and the pairs around it, not the shares of the items rated before it."""
    for previous, following, weight in transition_changes(change.before.items, change.after.items):
        space.next_items.add(previous, following, float(weight))
    space.apply_deltas(change.deltas)


def transition_changes(before: np.ndarray, after: np.ndarray) -> list[tuple[int, int, int]]:
    """How often each consecutive pair (previous item, next item) occurs in ``after`` less in ``before``, for the
    pairs where that is not zero, in (previous, next) order: counted in one vectorised pass over both sequences."""
    previous = np.concatenate([after[:-1], before[:-1]])
    following = np.concatenate([after[1:], before[1:]])
    if not len(previous):
        return []
    sign = np.ones(len(previous), dtype=np.int64)
    sign[max(len(after) - 1, 0) :] = -1
    base = int(max(previous.max(), following.max())) + 1  # one integer key per pair, ordered as the pairs
    keys, inverse = np.unique(previous * base + following, return_inverse=True)
    counts = np.bincount(inverse, weights=sign, minlength=len(keys)).astype(np.int64)
    moved = np.flatnonzero(counts)
    return [(k // base, k % base, c) for k, c in zip(keys[moved].tolist(), counts[moved].tolist())]


def learn_event(
    space: ItemSpace, user: Hashable, model: UserWNN, idx: int, rating: float, ts: int, event_id: int
) -> Learned:
    """Learn one new rating everywhere it goes: the item statistics, the next-item counts and the user's network.

    The item statistics take the rating first, so the pair's residual is against the item's baseline with the
    rating in it, as a network derived from scratch after it would have it. The returned :class:`Learned` carries
    ``added`` (the rating's own contribution, for a caller that keeps per-partition shares) and, when the user's
    size limit evicted old pairs, ``change``: the user's contribution with the new rating, swapped for what the
    pairs left add up to (already applied here; a caller's share takes ``added`` first, then the change).
    The event's fields must have been checked at the boundary (:func:`wnn.validation.check_learn_call`,
    :func:`wnn.validation.check_rating_event` or the worker's input schema): they are not
    checked twice on every rating.
    """
    if model.knows(event_id):
        return DUPLICATE  # at-least-once delivery: changes nothing
    rating = float(np.float32(rating))
    previous = model.last_item_index if model.n_pairs else None
    added = space.update(idx, rating, model.centred_rating(rating), user, ts, previous)
    restarted = model.append_pair(idx, rating, ts, event_id)
    evicted = model.eviction_due()
    if not evicted:
        return Learned(restarted=restarted, added=added)
    return Learned(evicted=evicted, added=added, change=_evict(space, user, model, evicted))


def _evict(space: ItemSpace, user: Hashable, model: UserWNN, evicted: tuple[int, ...]) -> ContributionChange:
    """The size limit forgets the oldest pairs: the user's contribution, the new rating's included, is swapped for
    what the pairs left add up to. Returns the change (applied)."""
    before = user_contributions(space, user, model)
    model.forget_many(evicted)
    change = ContributionChange(before, user_contributions(space, user, model))
    apply_change(space, change)
    return change


def forget_events(space: ItemSpace, user: Hashable, model: UserWNN, event_ids: Iterable[int]) -> ContributionChange:
    """Remove the user's pairs with these event ids (each must be stored) from the network, the item statistics and
    the next-item counts. Returns the user's contribution change, already applied to ``space``."""
    event_ids = list(event_ids)
    missing = [e for e in event_ids if not model.knows(e)]
    if missing:
        raise KeyError(f"user {user!r} holds no rating with event id {missing[0]}")
    # The pairs before the first forgotten one keep their centred values, and the transitions before the one into
    # it stay: the contribution is compared from the pair before it on.
    start = max(int(model.pair_log.positions_of_many(event_ids)[0]) - 1, 0)
    before = user_contributions(space, user, model, start)
    model.forget_many(event_ids)
    change = ContributionChange(before, user_contributions(space, user, model, start))
    apply_change(space, change)
    return change


class RunLearned(NamedTuple):
    """What :func:`learn_run` did, rating by rating: the rating predicted for each item before its rating was
    learned, the pairs the user held then, whether learning it restarted the taste window,
    its user-centred value, and (by position in the run) the contribution change of each eviction by the size
    limit."""

    predictions: np.ndarray
    pairs_before: np.ndarray
    restarted: np.ndarray
    centred: np.ndarray
    changes: dict[int, ContributionChange]


def learn_run(
    space: ItemSpace,
    user: Hashable,
    model: UserWNN,
    indices: np.ndarray,
    ratings: np.ndarray,
    stamps: np.ndarray,
    event_ids: np.ndarray,
) -> RunLearned:
    """Predict each rating's item for the user, then learn the rating (:func:`learn_event`), for a run of one user's
    ratings in order: int64 dense item indices, ratings, int64 event times and int64 event ids, each new to the user
    (none stored, none repeated) and checked at the boundary.

    The state and every prediction equal those of predicting and learning the ratings one by one. With the compiled
    kernels most of the run is one call (:func:`wnn.kernels.runs.learn_run`); what it leaves to Python (a rating of
    an item the user holds, a table counted afresh, an eviction, a next-item row made larger) is done here, between
    calls, as the per-rating path does it. ``RatingRow(indices[k], float32 ratings[k], centred[k], user,
    stamps[k])`` is what each rating added to the item statistics.
    """
    size = len(indices)
    predictions, centred = np.empty(size), np.empty(size)
    pairs_before, restarted = np.empty(size, dtype=np.int64), np.zeros(size, dtype=bool)
    changes: dict[int, ContributionChange] = {}
    log, derived = model.pair_log, model.derived_state
    largest = max(indices.tolist())
    k = 0
    while k < size:
        model.reconcile()
        previous = model.last_item_index if log.n else -1
        arguments = space.run_kernel_arguments(user, max(largest, previous))
        flags, stop = runs.HELD, k  # without the kernels: every rating by the per-rating path
        if arguments is not None:
            log.reserve(log.n + size - k)
            before = log.n
            pair_columns = tuple(log.room(name) for name in runs.PAIR_COLUMNS)
            stop, state, total, flags, generation, newest = runs.learn_run(
                k, (indices, ratings, stamps, event_ids), (predictions, centred, restarted, pairs_before), pair_columns,
                before, log.rating_total, log.newest_id, derived.run_kernel_arguments(size - k), arguments, previous,
            )  # fmt: skip
            if stop > k:
                chosen = indices[k:stop].tolist()
                log.appended(stop - k, [space.key(i) for i in chosen], newest, total)
                space.rated(chosen, stamps[k:stop].tolist(), generation)
                derived.appended_run(state, bool(flags & runs.REBUILD_TABLES))
            if flags & runs.ROW_IS_FULL:  # the last rating's transition found no room: make it, then count
                space.next_items.add(int(log.items[-2]), int(log.items[-1]))
            if flags & runs.EVICT:
                restarted[stop - 1] = False  # as learn_event reports an evicting rating
                changes[stop - 1] = _evict(space, user, model, model.eviction_due())
        if flags & runs.HELD and stop < size:  # the user holds the item: the per-rating path patches their pairs
            index = int(indices[stop])
            predictions[stop] = model.predict_index(index).rating
            pairs_before[stop] = log.n
            learned = learn_event(space, user, model, index, ratings[stop], int(stamps[stop]), int(event_ids[stop]))
            assert learned.added is not None  # a new event: learn_event fills it
            restarted[stop], centred[stop] = learned.restarted, learned.added.centred
            if learned.change is not None:
                changes[stop] = learned.change
            stop += 1
        k = stop
    return RunLearned(predictions, pairs_before, restarted, centred, changes)
