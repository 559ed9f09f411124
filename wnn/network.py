"""One user's recurrent weightless neural network: RAM neurons with counting memories and exact forgetting.

Layers (the seed paper's I, Q, Z):

* **I**, input bits: the item's bit vector from the shared :class:`~wnn.item_space.ItemSpace`.
* **Q**, hidden state, recurrent over the user's own event sequence. Q neuron ``j`` is a lookup table addressed by
  its input channel bit ``I_c(t)``, the event's like bit ``y(t)`` and its own previous value ``Q_j(t-1)``; its
  table is a latch (``Q_j(t) = y(t)`` when the channel is set, else ``Q_j(t-1)``). Channel 0 is always set, so
  ``Q_0`` is "the last rating was a like". Q therefore tracks the user's recent taste per region of item space.
* **Z**, output: ``n_neurons`` RAM neurons. Neuron ``n`` is addressed by ``tuple_size`` bits of I (and, for the
  first ``n_state_neurons`` neurons, by the Q bits too). Neuron 0 reads no bits: it is the user's bias neuron.

Each RAM cell is a *counting* memory, as in Regression WiSARD: it holds the number of training pairs written to it,
the sum of their residual ratings (rating minus the global item baseline at learning time) and the number of likes.
Learning writes cells, with no gradient; forgetting a pair subtracts exactly what it wrote. The training pairs are
kept in the state (event id, item, rating, time, plus what the pair wrote), the tables are derived from them, so
``forget(e)`` leaves exactly the state that learning without ``e`` would have produced.

Prediction reads the cell each Z neuron addresses for the candidate item. The bias neuron gives the user's shrunk mean
residual; every other neuron gives its cell's mean deviation from that bias, shrunk toward zero by a per-cell prior,
and their average (times a gain) is added. A stored pair therefore pulls in proportion to how many neurons' bit
tuples it shares with the candidate: a similarity-weighted, shrunk mean of the user's residuals on top of the global
baseline, the hybrid of a weighted global signal and a weightless per-user memory.

>>> from wnn.item_space import ItemSpace
>>> space = ItemSpace()
>>> for i, g in enumerate(["Horror", "Horror", "Comedy"]):
...     _ = space.add_item(i, genres=(g,), year=1990)
>>> user = UserWNN(space)
>>> user.learn_one(0, 1.0, ts=0, event_id=10)
>>> user.predict_one(1).rating < user.predict_one(2).rating   # the other horror film is predicted lower
True
>>> user.forget(10)
True
>>> user.n_pairs
0
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Sequence

import numpy as np

from wnn import drift, ranking, taste_change
from wnn.explanation import Explanation, explain
from wnn.item_space import ItemSpace
from wnn.memory import COUNT, LIKES, RESIDUAL, CountingMemory
from wnn.pairs import PairLog
from wnn.recurrence import next_state, states_before
from wnn.residuals import centered_residuals, quantize_residual
from wnn.state_format import StateError
from wnn import user_codec
from wnn.user_codec import FORMAT_VERSION, UNSEALED_FORMAT_VERSION
from wnn.validation import check_id, check_rating_event

__all__ = ["FORMAT_VERSION", "UNSEALED_FORMAT_VERSION", "Explanation", "Learned", "Prediction", "StateError",
           "UserWNN", "learn_many"]


@dataclasses.dataclass(frozen=True)
class Prediction:
    """A predicted rating and the probability that the user likes the item."""

    rating: float
    like_probability: float


@dataclasses.dataclass(frozen=True)
class Learned:
    """What learning one rating did to a user's network.

    ``centered`` is the rating centred on what the global baseline and the user's bias expected before it (what the
    rating adds to its item's collaborative projection), ``restarted`` whether it restarted the taste window (the
    stream's drift flag), and ``evicted`` the event ids the size limit (``max_pairs``) dropped to make room.
    ``duplicate`` is True when the event id was already stored: then nothing changed.
    """

    centered: float
    restarted: bool = False
    evicted: tuple[int, ...] = ()
    duplicate: bool = False
    #: Filled by :func:`wnn.contributions.learn_event`: the rating's projection contribution, or (after an eviction)
    #: the user's contribution change it applied to the item statistics.
    projection: np.ndarray | None = None
    change: object | None = None


DUPLICATE = Learned(0.0, duplicate=True)


class UserWNN:
    """Per-user recurrent WNN. River-style API: :meth:`learn_one`, :meth:`predict_one`, :meth:`score`.

    Parameters
    ----------
    space
        The shared item space (encoder, wiring, address cache).
    """

    def __init__(self, space: ItemSpace, pairs: PairLog | None = None) -> None:
        self.space = space
        cfg = self._cfg = space.config
        self.memory = CountingMemory(cfg)
        layout = self.memory.layout
        self._state_shift, self._state_cells = layout.state_shift, layout.state_cells
        self._split, self._pool_weights = layout.split, layout.pool_weights
        self._gain = cfg.interaction_gain
        self._cell_prior = np.float32(cfg.interaction_prior)
        self._pooled_prior = cfg.interaction_prior * (cfg.n_neurons - 1)
        self._like = cfg.like_threshold
        self._state = 0
        self.pair_log = pairs if pairs is not None else PairLog()
        # Taste-change window (wnn.taste_change): the tables hold the pairs from self._window.start on.
        self._window = taste_change.WindowState()
        self._detect = cfg.drift_threshold is not None
        # Sum of every stored pair's residual (float64, exact: residuals are fixed-point), for the centred ratings
        # the global item statistics take; these centre on all the user's pairs, whatever the window.
        self._residual_total = 0.0
        if pairs is not None:
            self._rebuild()

    @property
    def n_pairs(self) -> int:
        return self.pair_log.n

    # ------------------------------------------------------------------ learning
    def learn_one(self, item: Hashable, rating: float, ts: int, event_id: int) -> None:
        """Write one rating into the tables. A repeated ``event_id`` is ignored (at-least-once delivery is safe).
        Bad input raises :class:`wnn.validation.InvalidEvent` and changes nothing (the item is not registered)."""
        check_id(item)
        self.learn_index(self.space.index(item), rating, ts, event_id)

    def will_evict(self) -> bool:
        """Whether learning one more new rating evicts the oldest pairs (``max_pairs``)."""
        limit = self._cfg.max_pairs
        return limit is not None and self.pair_log.n >= limit

    def knows(self, event_id: int) -> bool:
        """Whether a pair with this event id is stored (a redelivered event must not be counted twice)."""
        return self.pair_log.knows(event_id)

    def learn_index(self, idx: int, rating: float, ts: int, event_id: int) -> Learned:
        """:meth:`learn_one` for a dense item index of the space; returns what happened (:class:`Learned`).

        The centred rating it returns scales the pair's contribution to its item's collaborative projection;
        :meth:`contributions` derives the same number from the stored pairs. A repeated ``event_id`` changes nothing.
        Bad input raises :class:`wnn.validation.InvalidEvent` and changes nothing.
        """
        rating, ts, event_id = check_rating_event(rating, ts, event_id)
        log = self.pair_log
        if log.knows(event_id):
            return DUPLICATE
        n = log.n
        space = self.space
        residual = quantize_residual(rating - space.baseline(idx))
        centered = quantize_residual(residual - self._residual_total / (n + self._cfg.user_prior))
        liked = rating >= self._like
        self.memory.write(space.cell_base[idx], self._state, residual, liked)
        log.append(event_id, idx, space.key(idx), rating, ts, residual, int(space.dynamic_codes[idx]))
        self._residual_total += float(residual)
        self._state = next_state(self._state, int(space.channels[idx]), liked)
        restarted = False
        if self._detect:
            cfg = self._cfg
            window = taste_change.restarted(taste_change.step(self._window, float(residual), cfg.drift_allowance,
                                                              cfg.drift_threshold), log.residual_buffer)
            restarted = window.start != self._window.start
            self._window = window
            if restarted:
                self._rebuild(rescan=False)
        evicted: tuple[int, ...] = ()
        limit = self._cfg.max_pairs
        if limit is not None and log.n > limit:
            # The oldest tenth goes at once: an eviction rebuilds the tables (and re-derives the user's
            # item-statistics contributions), so it happens once per limit/10 ratings, not on every one.
            positions = np.arange(log.n - limit + limit // 10)
            evicted = tuple(log.event_ids[positions].tolist())
            self._delete(positions)
            restarted = False  # re-deriving the window from the pairs left is no evidence of a change
        return Learned(centered, restarted, evicted)

    def reindex(self) -> None:
        """Re-read every stored pair through the item space as it is now: current addresses, channels and residuals
        against current baselines. Item codes and means keep moving with the stream; this keeps the user's memory
        aligned with them. It changes no pair's rating, time or id, so forgetting stays exact."""
        log, space = self.pair_log, self.space
        if not log.n:
            return
        items = log.items
        log.codes[:] = space.dynamic_codes[items]
        log.residuals[:] = quantize_residual(log.ratings - space.baselines()[items])
        self._rebuild()

    def forget(self, event_id: int) -> bool:
        """Remove one training pair exactly, as if it had never been learned. Returns False if it is not stored."""
        hits = self.pair_log.positions_of(event_id)
        if not len(hits):
            return False
        self._delete(hits)
        return True

    def _delete(self, positions: np.ndarray) -> None:
        self.pair_log.delete(positions)
        self._rebuild()

    def _rebuild(self, rescan: bool = True) -> None:
        """Derive the tables and Q from the stored pairs of the taste window (re-derived first with ``rescan``)."""
        log, cfg = self.pair_log, self._cfg
        residuals = log.residuals
        if rescan:
            self._residual_total = float(residuals.astype(np.float64).sum())
            if self._detect:
                self._window = taste_change.scan(residuals, cfg.drift_allowance, cfg.drift_threshold)
        window = slice(self._window.start, log.n)
        addresses, channels = self.space.addresses_for(log.items[window], log.codes[window])
        before, self._state = states_before(log.ratings[window] >= self._like, channels, cfg.n_state_bits)
        cells = self.memory.layout.cells(addresses.astype(np.int64), before)
        self.memory.rebuild(cells, residuals[window], log.ratings[window] >= self._like)

    # ------------------------------------------------------------------ inference
    def predict_one(self, item: Hashable) -> Prediction:
        """Expected rating and like probability of one item, from the current tables and Q state."""
        return self.predict_index(self.space.index(item))

    def predict_index(self, idx: int) -> Prediction:
        """:meth:`predict_one` for a dense item index of the space (skips the id lookup on the hot path)."""
        space = self.space
        baseline = space.baseline(idx)
        if self.memory.empty:  # an empty memory: the same formula with every cell at zero
            rating = 1.0 if baseline < 1.0 else 5.0 if baseline > 5.0 else baseline
            return Prediction(rating, 1.0 / (1.0 + math.exp(-2.0 * (rating - self._like + 0.5))))
        # One gather and one small matmul: (3, M) @ (M, 2) gives the pooled cells and the bias neuron's cell.
        cells = self.memory.gather(space.cell_base[idx], self._state)
        (count, bias_count), (residual, bias_residual), (likes, _) = (cells @ self._split).tolist()
        user_bias = bias_residual / (bias_count + self._cfg.user_prior)
        # sum_n w_n (S_n - N_n b) / (N_n + prior) = S.v - b N.v with v_n = w_n / (N_n + prior): one matmul
        weighted_count, weighted_residual = (cells[:2] @ (self._pool_weights / (cells[COUNT] + self._cell_prior))
                                             ).tolist()
        rating = baseline + user_bias + self._gain * (weighted_residual - user_bias * weighted_count)
        rating = 1.0 if rating < 1.0 else 5.0 if rating > 5.0 else rating
        prior = self._pooled_prior
        prior_like = 1.0 / (1.0 + math.exp(-2.0 * (rating - self._like + 0.5)))
        return Prediction(rating, (likes + prior * prior_like) / (count + prior))

    def score(self, ts: float | None = None, k: int = 10, exclude_rated: bool = True, use_candidates: bool = True
              ) -> tuple[list[Hashable], np.ndarray]:
        """The top-``k`` item ids for this user and their ranking scores, best first (:func:`wnn.ranking.top_items`)."""
        return ranking.top_items(self, ts, k, exclude_rated, use_candidates)

    def rank_scores(self, ts: float | None = None, items: np.ndarray | None = None) -> np.ndarray:
        """Ranking score of every item in the space (dense index order), or of ``items`` only; rated items included
        (:func:`wnn.ranking.rank_scores`)."""
        return ranking.rank_scores(self, ts, items)

    def list_time(self, ts: float | None) -> float:
        """The event time a list is ranked at: ``ts``, else the newest stored pair's (0 without pairs)."""
        if ts is not None:
            return float(ts)
        return float(self.last_ts) if self.n_pairs else 0.0

    def explain(self, item: Hashable, top: int = 5) -> Explanation:
        """The stored pairs and the neurons that drove the item's predicted rating (:mod:`wnn.explanation`)."""
        return explain(self, item, top)

    # ------------------------------------------------------------------ introspection
    @property
    def user_bias(self) -> float:
        """The bias neuron's shrunk mean residual over the taste window: what the network adds to every item's
        baseline for this user."""
        if self.memory.empty:
            return 0.0
        table = self.memory.table
        return float(table[RESIDUAL, 0]) / (float(table[COUNT, 0]) + self._cfg.user_prior)

    @property
    def window_start(self) -> int:
        """Position of the first stored pair that still votes (0 until a taste change was detected)."""
        return self._window.start

    @property
    def window(self) -> taste_change.WindowState:
        """The taste-change detector's state after the stored pairs."""
        return self._window

    def taste_shift(self) -> float:
        """JS divergence between the genre mix of the user's recent and all stored ratings (:func:`wnn.drift.
        taste_shift`), derived from the pairs: a forgotten rating leaves no trace in it."""
        slots = self._cfg.n_genre_slots
        return drift.taste_shift(self.space.bits[self.pair_log.items, :slots])

    @property
    def last_item_index(self) -> int:
        """Dense index of the item of the newest stored pair (the user must have one)."""
        return int(self.pair_log.items[-1])

    @property
    def last_ts(self) -> int | None:
        """Event time of the newest stored pair (None without pairs)."""
        return int(self.pair_log.ts[-1]) if self.pair_log.n else None

    def item_indices(self) -> np.ndarray:
        """Dense item indices of the stored pairs, oldest first (a copy)."""
        return self.pair_log.items.copy()

    @property
    def state(self) -> int:
        """Current Q layer bits."""
        return self._state

    def rated_items(self) -> list[Hashable]:
        return list(self.pair_log.keys)

    def pairs(self) -> list[dict]:
        """The stored training pairs, oldest first: what the user can inspect and delete."""
        return self.pair_log.listing()

    def contributions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What each stored pair added to the global item statistics: dense item indices, ratings, times and
        centred ratings, oldest first. See :func:`wnn.item_stats.shares_from_contributions`.

        The centred rating is derived, not stored: the pair's residual minus the user's bias over the pairs before
        it, exactly as :meth:`learn_index` computed it. So forgetting a pair also changes what the user's *later*
        pairs contribute (their bias no longer includes it), and the caller re-derives them.
        """
        log = self.pair_log
        return log.items, log.ratings, log.ts, centered_residuals(log.residuals, self._cfg.user_prior)

    @property
    def memory_bytes(self) -> int:
        """Approximate memory of the live network (what a cache of users should count)."""
        return 2048 + self.memory.nbytes + self.pair_log.capacity * 40 + self.pair_log.n * 120

    # ------------------------------------------------------------------ serialization
    def to_bytes(self) -> bytes:
        """The stored pairs as sealed msgpack (:mod:`wnn.user_codec`); the tables are derived on load."""
        return user_codec.encode(self.pair_log, self._cfg.fingerprint())

    @classmethod
    def from_bytes(cls, data: bytes, space: ItemSpace) -> "UserWNN":
        """Load a state written by :meth:`to_bytes`. Raises :class:`StateError` with the reason if it is unusable."""
        return cls(space, user_codec.decode(data, space))

    @staticmethod
    def stored_contributions(data: bytes, user_prior: float) -> tuple[list[Hashable], np.ndarray, np.ndarray, np.ndarray]:
        """Item ids, ratings, times and centred ratings of a serialized state's pairs, oldest first, without
        rebuilding the network (what recovery needs to re-derive the item statistics and next-item counts)."""
        return user_codec.stored_contributions(data, user_prior)

    @property
    def nbytes(self) -> int:
        """Size of the serialized state."""
        return len(self.to_bytes())


def learn_many(model: UserWNN, events: Sequence[tuple[Hashable, float, int, int]]) -> UserWNN:
    """Learn ``(item, rating, ts, event_id)`` tuples in order; returns the model, for chaining in tests."""
    for item, rating, ts, event_id in events:
        model.learn_one(item, rating, ts, event_id)
    return model
