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
import functools
import math
from collections.abc import Hashable, Sequence

import msgpack
import numpy as np

from wnn import drift, taste_change
from wnn.config import WNNConfig
from wnn.item_space import ItemSpace
from wnn.state_format import StateError, load_document, seal
from wnn.validation import check_id, check_rating_event

#: Version of the serialized state layout; bump on any change to :meth:`UserWNN.to_bytes`.
FORMAT_VERSION = 3
#: States written before the checksum (format 2) are still read.
UNSEALED_FORMAT_VERSION = 2

# Planes of the counting memory: the table is (3, cells), the neurons packed as WNNConfig.neuron_offsets says.
_COUNT, _RESIDUAL, _LIKES = 0, 1, 2


#: Residuals are stored in steps of 1/256 star, so every table cell is a sum of exactly representable numbers and
#: does not depend on the order pairs were written or removed: forgetting is bit-exact (in float32, for cells of up to
#: 16,000 pairs).
RESIDUAL_QUANTUM = 1.0 / 256.0


def quantize_residual(residual: float | np.ndarray) -> float | np.ndarray:
    """Round a residual rating to the memory's fixed-point step."""
    if isinstance(residual, np.ndarray):
        return np.round(residual / RESIDUAL_QUANTUM) * RESIDUAL_QUANTUM
    return round(residual / RESIDUAL_QUANTUM) * RESIDUAL_QUANTUM


def _state_document(data: bytes) -> dict:
    return load_document(data, FORMAT_VERSION, UNSEALED_FORMAT_VERSION, "user state")


def _centered(residuals: np.ndarray, user_prior: float) -> np.ndarray:
    """Each pair's residual minus the user's bias over the pairs before it (the bias neuron's shrunk mean), in the
    memory's fixed-point step. Vectorised; the sums are exact, so this equals what learning computed pair by pair."""
    n = len(residuals)
    res = residuals.astype(np.float64)
    before = np.concatenate(([0.0], np.cumsum(res)[:-1])) if n else res
    return quantize_residual(res - before / (np.arange(n, dtype=np.float64) + user_prior))


@dataclasses.dataclass(frozen=True)
class Prediction:
    """A predicted rating and the probability that the user likes the item."""

    rating: float
    like_probability: float


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Why the network scored an item as it did.

    ``pairs`` are the stored training pairs that share cells with the item, strongest pull first, as dicts with
    ``event_id``, ``item``, ``rating``, ``ts``, ``shared_neurons`` and ``pull`` (its additive share of the predicted
    rating). ``neurons`` lists, per Z neuron, the cell it read (``count``, ``mean_residual``).
    """

    item: Hashable
    prediction: Prediction
    baseline: float
    user_bias: float
    pairs: list[dict]
    neurons: list[dict]


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Index arithmetic shared by every user of one config (computed once per config, not per user)."""

    offsets: np.ndarray       # first table cell of each Z neuron
    stateful: np.ndarray      # 1 for the Z neurons that also read Q
    state_shift: np.ndarray   # (Q states, M): extra cell offset of each neuron in each Q state
    state_cells: np.ndarray   # (Q states, 3, M): the same, per memory plane of the flat table
    split: np.ndarray         # (M, 2): column 0 sums neurons 1..M-1, column 1 picks the bias neuron
    pool_weights: np.ndarray  # (M,): 1/(M-1) for neurons 1..M-1, 0 for the bias neuron


@functools.lru_cache(maxsize=16)
def _layout(cfg: WNNConfig) -> _Layout:
    m = cfg.n_neurons
    first_cells, size = cfg.neuron_offsets()
    offsets = np.array(first_cells, dtype=np.int64)
    stateful = np.zeros(m, dtype=np.int64)
    if cfg.n_state_bits:
        stateful[1: 1 + cfg.n_state_neurons] = 1
    state_shift = (np.arange(1 << cfg.n_state_bits, dtype=np.int64)[:, None] << cfg.tuple_size) * stateful
    state_cells = state_shift[:, None, :] + (np.arange(3, dtype=np.int64) * size)[None, :, None]
    split = np.zeros((m, 2), dtype=np.float32)
    split[1:, 0] = 1.0
    split[0, 1] = 1.0
    # Z neurons 1..M-1 vote with their shrunk mean deviation from the user's bias, averaged; the bias neuron sets
    # the bias itself.
    pool_weights = split[:, 0] / np.float32(m - 1)
    for arr in (offsets, stateful, state_shift, state_cells, split, pool_weights):
        arr.setflags(write=False)
    return _Layout(offsets, stateful, state_shift, state_cells, split, pool_weights)


@functools.lru_cache(maxsize=16)
def _sequence_weights(cfg: WNNConfig) -> np.ndarray:
    """Ranking weight of the successors of the user's newest item, the one before it, and so on."""
    weights = cfg.transition_weight * cfg.sequence_decay ** np.arange(cfg.sequence_length, dtype=np.float64)
    weights.setflags(write=False)
    return weights


class UserWNN:
    """Per-user recurrent WNN. River-style API: :meth:`learn_one`, :meth:`predict_one`, :meth:`score`.

    Parameters
    ----------
    space
        The shared item space (encoder, wiring, address cache).
    """

    def __init__(self, space: ItemSpace) -> None:
        self.space = space
        cfg = self._cfg = space.config
        layout = _layout(cfg)
        self._k = cfg.tuple_size
        self._offsets, self._stateful = layout.offsets, layout.stateful
        self._state_shift, self._state_cells = layout.state_shift, layout.state_cells
        self._split, self._pool_weights = layout.split, layout.pool_weights
        self._gain = cfg.interaction_gain
        self._cell_prior = np.float32(cfg.interaction_prior)
        self._pooled_prior = cfg.interaction_prior * (cfg.n_neurons - 1)
        self._like = cfg.like_threshold
        self._sequence_weights = _sequence_weights(cfg)
        self._seen: set[int] = set()
        self._table: np.ndarray | None = None
        self._flat: np.ndarray | None = None
        self._write = np.ones((3, cfg.n_neurons), dtype=np.float32)
        self._state = 0
        self._reset_pairs(0)
        # Taste-change window (wnn.taste_change): the tables hold the pairs from self._window.start on.
        self._window = taste_change.WindowState()
        self._detect = cfg.drift_threshold is not None
        # Sum of every stored pair's residual (float64, exact: residuals are fixed-point), for the centred ratings
        # the global item statistics take; these centre on all the user's pairs, whatever the window.
        self._residual_total = 0.0

    # ------------------------------------------------------------------ state layout
    def _reset_pairs(self, capacity: int) -> None:
        self.n_pairs = 0
        self._item_keys: list[Hashable] = []  # the pairs' item ids, kept for cheap serialization
        self._event_ids = np.zeros(capacity, dtype=np.int64)
        self._items = np.zeros(capacity, dtype=np.int64)
        self._ratings = np.zeros(capacity, dtype=np.float32)
        self._ts = np.zeros(capacity, dtype=np.int64)
        self._residuals = np.zeros(capacity, dtype=np.float32)
        self._codes = np.zeros(capacity, dtype=np.uint32)

    # A pair stores its item's dynamic code (popularity and mean levels, collaborative bits) at learning time: with
    # the item's static content bits that gives back exactly the addresses the pair wrote, in 4 bytes, not M.
    _PAIR_FIELDS = ("_event_ids", "_items", "_ratings", "_ts", "_residuals", "_codes")

    def _grow(self) -> None:
        capacity = max(8, 2 * len(self._event_ids))
        for name in self._PAIR_FIELDS:
            old = getattr(self, name)
            new = np.zeros((capacity,) + old.shape[1:], dtype=old.dtype)
            new[: self.n_pairs] = old[: self.n_pairs]
            setattr(self, name, new)

    def _cells(self, addresses: np.ndarray, state: int | np.ndarray) -> np.ndarray:
        """Flat table indices of every Z neuron for item addresses (..., M) under Q state(s)."""
        shift = np.asarray(state, dtype=np.int64) << self._k
        if np.ndim(shift):
            shift = shift[..., None]
        return self._offsets + addresses + shift * self._stateful

    def _ensure_table(self) -> np.ndarray:
        if self._table is None:
            self._table = np.zeros((3, self._cfg.neuron_offsets()[1]), dtype=np.float32)
            self._flat = self._table.reshape(-1)
        return self._table

    # ------------------------------------------------------------------ learning
    def learn_one(self, item: Hashable, rating: float, ts: int, event_id: int) -> None:
        """Write one rating into the tables. A repeated ``event_id`` is ignored (at-least-once delivery is safe).
        Bad input raises :class:`wnn.validation.InvalidEvent` and changes nothing (the item is not registered)."""
        check_id(item)
        self.learn_index(self.space.index(item), rating, ts, event_id)

    def knows(self, event_id: int) -> bool:
        """Whether a pair with this event id is stored (a redelivered event must not be counted twice)."""
        return event_id in self._seen

    def learn_index(self, idx: int, rating: float, ts: int, event_id: int) -> float:
        """:meth:`learn_one` for a dense item index of the space.

        Returns the rating centred on what the global baseline and the user's bias expected before learning it
        (in the memory's fixed-point step), which scales the pair's contribution to its item's collaborative
        projection; :meth:`contributions` derives the same number from the stored pairs. A repeated ``event_id``
        returns 0.0 and changes nothing. Bad input raises :class:`wnn.validation.InvalidEvent` and changes nothing.
        """
        rating, ts, event_id = check_rating_event(rating, ts, event_id)
        if event_id in self._seen:
            return 0.0
        n = self.n_pairs
        if n == len(self._event_ids):
            self._grow()
        space = self.space
        baseline = space.baseline(idx)
        residual = quantize_residual(rating - baseline)
        centered = quantize_residual(residual - self._residual_total / (n + self._cfg.user_prior))
        liked = rating >= self._like
        channel = int(space.channels[idx])
        self._event_ids[n] = event_id
        self._items[n] = idx
        self._ratings[n] = rating
        self._ts[n] = ts
        self._residuals[n] = residual
        self._codes[n] = space.dynamic_codes[idx]
        if self._table is None:
            self._ensure_table()
        write = self._write
        write[_RESIDUAL] = residual
        write[_LIKES] = 1.0 if liked else 0.0
        self._flat[space.cell_base[idx] + self._state_cells[self._state]] += write
        # Committed last, so a failure above leaves the pair unseen and a retry learns it.
        self._item_keys.append(space.key(idx))
        self._seen.add(event_id)
        self.n_pairs = n + 1
        self._residual_total += float(residual)
        self._state = (self._state & ~channel) | (channel if liked else 0)
        if self._detect:
            cfg = self._cfg
            window = taste_change.restarted(taste_change.step(self._window, float(residual), cfg.drift_allowance,
                                                              cfg.drift_threshold), self._residuals)
            moved = window.start != self._window.start
            self._window = window
            if moved:
                self._rebuild(rescan=False)
        limit = self._cfg.max_pairs
        if limit is not None and self.n_pairs > limit:
            # The oldest tenth goes at once: an eviction rebuilds the tables (and, in the stream, re-derives the
            # user's item-statistics contributions), so it happens once per limit/10 ratings, not on every one.
            self._delete(np.arange(self.n_pairs - limit + limit // 10))
        return centered

    def reindex(self) -> None:
        """Re-read every stored pair through the item space as it is now: current addresses, channels and residuals
        against current baselines. Item codes and means keep moving with the stream; this keeps the user's memory
        aligned with them. It changes no pair's rating, time or id, so forgetting stays exact."""
        n, space = self.n_pairs, self.space
        if not n:
            return
        items = self._items[:n]
        self._codes[:n] = space.dynamic_codes[items]
        self._residuals[:n] = quantize_residual(self._ratings[:n] - space.baselines()[items])
        self._rebuild()

    def forget(self, event_id: int) -> bool:
        """Remove one training pair exactly, as if it had never been learned. Returns False if it is not stored."""
        hits = np.flatnonzero(self._event_ids[: self.n_pairs] == event_id)
        if not len(hits):
            return False
        self._delete(hits)
        return True

    def _delete(self, positions: np.ndarray) -> None:
        keep = np.ones(self.n_pairs, dtype=bool)
        keep[positions] = False
        for name in self._PAIR_FIELDS:
            arr = getattr(self, name)
            setattr(self, name, arr[: self.n_pairs][keep].copy())
        self.n_pairs = int(keep.sum())
        self._item_keys = [key for key, kept in zip(self._item_keys, keep.tolist()) if kept]
        self._seen = set(self._event_ids.tolist())
        self._rebuild()

    def _states_before(self, channels: np.ndarray, window: slice) -> tuple[np.ndarray, int]:
        """Q before each pair of the window and Q after the last one, replayed from the pairs (vectorised per Q
        bit; Q starts at zero with the window, as the tables do)."""
        liked = self._ratings[window] >= self._like
        n = len(liked)
        after = np.zeros(n, dtype=np.int64)
        positions = np.arange(n)
        for j in range(self._cfg.n_state_bits):
            active = (channels >> j) & 1
            last = np.maximum.accumulate(np.where(active == 1, positions, -1)) if n else positions
            after |= np.where(last >= 0, liked[np.maximum(last, 0)], False).astype(np.int64) << j
        before = np.concatenate(([0], after[:-1])) if n else after
        return before, int(after[-1]) if n else 0

    def _rebuild(self, rescan: bool = True) -> None:
        """Derive the tables and Q from the stored pairs of the taste window (re-derived first with ``rescan``)."""
        n, cfg = self.n_pairs, self._cfg
        residuals = self._residuals[:n]
        if rescan:
            self._residual_total = float(residuals.astype(np.float64).sum())
            if self._detect:
                self._window = taste_change.scan(residuals, cfg.drift_allowance, cfg.drift_threshold)
        window = slice(self._window.start, n)
        addresses, channels = self.space.addresses_for(self._items[window], self._codes[window])
        before, self._state = self._states_before(channels, window)
        table = self._ensure_table()
        size = table.shape[1]
        cells = self._cells(addresses.astype(np.int64), before).ravel()
        m = cfg.n_neurons
        table[_COUNT] = np.bincount(cells, minlength=size)
        table[_RESIDUAL] = np.bincount(cells, weights=np.repeat(residuals[window], m), minlength=size)
        liked = (self._ratings[window] >= self._like).astype(np.float64)
        table[_LIKES] = np.bincount(cells, weights=np.repeat(liked, m), minlength=size)

    # ------------------------------------------------------------------ inference
    def predict_one(self, item: Hashable) -> Prediction:
        """Expected rating and like probability of one item, from the current tables and Q state."""
        return self.predict_index(self.space.index(item))

    def predict_index(self, idx: int) -> Prediction:
        """:meth:`predict_one` for a dense item index of the space (skips the id lookup on the hot path)."""
        space = self.space
        baseline = space.baseline(idx)
        if self._table is None:  # an empty memory: the same formula with every cell at zero
            rating = 1.0 if baseline < 1.0 else 5.0 if baseline > 5.0 else baseline
            return Prediction(rating, 1.0 / (1.0 + math.exp(-2.0 * (rating - self._like + 0.5))))
        # One gather and one small matmul: (3, M) @ (M, 2) gives the pooled cells and the bias neuron's cell.
        cells = self._flat.take(space.cell_base[idx] + self._state_cells[self._state])
        (count, bias_count), (residual, bias_residual), (likes, _) = (cells @ self._split).tolist()
        user_bias = bias_residual / (bias_count + self._cfg.user_prior)
        # sum_n w_n (S_n - N_n b) / (N_n + prior) = S.v - b N.v with v_n = w_n / (N_n + prior): one matmul
        weighted_count, weighted_residual = (cells[:2] @ (self._pool_weights / (cells[_COUNT] + self._cell_prior))
                                             ).tolist()
        rating = baseline + user_bias + self._gain * (weighted_residual - user_bias * weighted_count)
        rating = 1.0 if rating < 1.0 else 5.0 if rating > 5.0 else rating
        prior = self._pooled_prior
        prior_like = 1.0 / (1.0 + math.exp(-2.0 * (rating - self._like + 0.5)))
        return Prediction(rating, (likes + prior * prior_like) / (count + prior))

    def score(self, ts: float | None = None, k: int = 10, exclude_rated: bool = True, use_candidates: bool = True
              ) -> tuple[list[Hashable], np.ndarray]:
        """Rank the items of the space; return the top-``k`` item ids and their scores, best first.

        The ranking score combines what is likely to be watched next (time-decayed popularity at ``ts``, and the
        user's affinity: how much of their memory the item's cells hold) with the predicted rating. Items the user
        already rated are left out. With ``config.n_candidates`` set (and ``use_candidates``), only that many globally
        strongest items (see :meth:`ItemSpace.candidates`) are scored per user: the usual candidate-generation-then-
        ranking split, which keeps a list refresh cheap on a large catalogue.
        """
        n_candidates = self._cfg.n_candidates
        items = None
        if use_candidates and n_candidates is not None and n_candidates + self.n_pairs < self.space.n_items:
            items = self.space.candidates(self._default_ts(ts), n_candidates + self.n_pairs)
        rank = self.rank_scores(ts, items)
        if exclude_rated and self.n_pairs:
            rated = self._items[: self.n_pairs]
            if items is None:
                rank[rated] = -np.inf
            else:
                is_rated = np.zeros(self.space.n_items, dtype=bool)
                is_rated[rated] = True
                rank[is_rated[items]] = -np.inf
        k = min(k, len(rank))
        top = np.argpartition(-rank, k - 1)[:k] if k < len(rank) else np.arange(len(rank))
        top = top[np.argsort(-rank[top], kind="stable")]
        top = top[np.isfinite(rank[top])]
        dense = top if items is None else items[top]
        keys = [self.space.key(int(i)) for i in dense]
        return keys, rank[top]

    def _default_ts(self, ts: float | None) -> float:
        if ts is not None:
            return float(ts)
        return float(self._ts[self.n_pairs - 1]) if self.n_pairs else 0.0

    def rank_scores(self, ts: float | None = None, items: np.ndarray | None = None) -> np.ndarray:
        """Ranking score of every item in the space (dense index order), or of ``items`` only; rated items included.

        What is likely next (decayed popularity, and how often items followed the user's last item in everyone's
        sequences) plus the user's affinity and predicted rating, weighted by the config.

        Vectorised over items: one gather per memory plane on one user's tables, no loop over items or neurons.
        """
        space, cfg = self.space, self._cfg
        popularity = np.log1p(space.popularity_at(self._default_ts(ts), items))
        baselines = space.baselines(items)
        base = space.cell_base[: space.n_items] if items is None else space.cell_base[items]
        if self.n_pairs and cfg.transition_weight:
            recent = self._items[max(0, self.n_pairs - cfg.sequence_length): self.n_pairs][::-1]
            popularity = popularity + space.sequence_scores(recent, self._sequence_weights[: len(recent)], items)
        if self._table is None:
            return popularity + cfg.rating_weight * baselines
        table = self._table
        cells = base + self._state_shift[self._state]
        counts = table[_COUNT].take(cells)
        bias_count = float(table[_COUNT, 0])
        user_bias = float(table[_RESIDUAL, 0]) / (bias_count + cfg.user_prior)
        deviation = (table[_RESIDUAL].take(cells) - counts * np.float32(user_bias)) / (counts + self._cell_prior)
        rating = np.clip(baselines + user_bias + self._gain * (deviation @ self._pool_weights), 1, 5)
        count = counts @ self._pool_weights
        # Affinity: how much of the user's memory the item's cells hold (a pair counts once per shared neuron).
        affinity = count / max(bias_count, 1.0)
        return popularity + cfg.affinity_weight * np.log1p(affinity) + cfg.rating_weight * rating

    def explain(self, item: Hashable, top: int = 5) -> Explanation:
        """The stored pairs and the neurons that drove the item's predicted rating."""
        space, cfg = self.space, self._cfg
        idx = space.index(item)
        prediction = self.predict_one(item)
        baseline = space.baseline(idx)
        if not self.n_pairs:
            return Explanation(item, prediction, baseline, 0.0, [], [])
        candidate = self._cells(space.addresses[idx], self._state)
        cells = self._table[:, candidate]
        user_bias = float(cells[_RESIDUAL, 0] / (cells[_COUNT, 0] + cfg.user_prior))
        window = slice(self._window.start, self.n_pairs)  # pairs before a taste change no longer vote
        addresses, channels = space.addresses_for(self._items[window], self._codes[window])
        before, _ = self._states_before(channels, window)
        stored = self._cells(addresses.astype(np.int64), before)
        match = stored[:, 1:] == candidate[1:]
        shared = match.sum(axis=1)
        # The rating's interaction term is a sum over neurons of the cell's shrunk mean deviation; split it per pair.
        per_neuron = self._gain / (cfg.n_neurons - 1) / (cells[_COUNT, 1:] + cfg.interaction_prior)
        pull = (self._residuals[window] - np.float32(user_bias)) * (match @ per_neuron)
        order = self._window.start + np.argsort(-np.abs(pull), kind="stable")[:top]
        pull = np.concatenate((np.zeros(self._window.start, dtype=pull.dtype), pull))
        shared = np.concatenate((np.zeros(self._window.start, dtype=shared.dtype), shared))
        pairs = [dict(event_id=int(self._event_ids[p]), item=space.key(int(self._items[p])),
                      rating=float(self._ratings[p]), ts=int(self._ts[p]), shared_neurons=int(shared[p]),
                      pull=float(pull[p])) for p in order if shared[p] > 0]
        neurons = [dict(neuron=i, count=float(c[_COUNT]), mean_residual=float(c[_RESIDUAL] / c[_COUNT]))
                   for i, c in enumerate(cells.T) if c[_COUNT] > 0]
        return Explanation(item, prediction, baseline, user_bias, pairs, neurons)

    # ------------------------------------------------------------------ introspection
    @property
    def user_bias(self) -> float:
        """The bias neuron's shrunk mean residual over the taste window: what the network adds to every item's
        baseline for this user."""
        if self._table is None:
            return 0.0
        table = self._table
        return float(table[_RESIDUAL, 0]) / (float(table[_COUNT, 0]) + self._cfg.user_prior)

    @property
    def window_start(self) -> int:
        """Position of the first stored pair that still votes (0 until a taste change was detected)."""
        return self._window.start

    def taste_shift(self) -> float:
        """JS divergence between the genre mix of the user's recent and all stored ratings (:func:`wnn.drift.
        taste_shift`), derived from the pairs: a forgotten rating leaves no trace in it."""
        slots = self._cfg.n_genre_slots
        return drift.taste_shift(self.space.bits[self._items[: self.n_pairs], :slots])

    @property
    def last_item_index(self) -> int:
        """Dense index of the item of the newest stored pair (the user must have one)."""
        return int(self._items[self.n_pairs - 1])

    @property
    def state(self) -> int:
        """Current Q layer bits."""
        return self._state

    def rated_items(self) -> list[Hashable]:
        return list(self._item_keys)

    def pairs(self) -> list[dict]:
        """The stored training pairs, oldest first: what the user can inspect and delete."""
        n = self.n_pairs
        return [dict(event_id=e, item=i, rating=r, ts=t) for e, i, r, t in
                zip(self._event_ids[:n].tolist(), self._item_keys, self._ratings[:n].tolist(), self._ts[:n].tolist())]

    def contributions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What each stored pair added to the global item statistics: dense item indices, ratings, times and
        centred ratings, oldest first. See :func:`wnn.item_stats.shares_from_contributions`.

        The centred rating is derived, not stored: the pair's residual minus the user's bias over the pairs before
        it, exactly as :meth:`learn_index` computed it. So forgetting a pair also changes what the user's *later*
        pairs contribute (their bias no longer includes it), and the caller re-derives them.
        """
        n = self.n_pairs
        return self._items[:n], self._ratings[:n], self._ts[:n], _centered(self._residuals[:n],
                                                                         self._cfg.user_prior)

    # ------------------------------------------------------------------ serialization
    def to_bytes(self) -> bytes:
        """msgpack state: format version, config fingerprint and the training pairs (tables are derived), sealed
        with a CRC-32 (:mod:`wnn.state_format`)."""
        n = self.n_pairs
        return seal(msgpack.packb({
            "v": FORMAT_VERSION,
            "cfg": self._cfg.fingerprint(),
            "n": n,
            "event_ids": self._event_ids[:n].tobytes(),
            "items": self._item_keys,
            "ratings": self._ratings[:n].tobytes(),
            "ts": self._ts[:n].tobytes(),
            "residuals": self._residuals[:n].tobytes(),
            "codes": self._codes[:n].tobytes(),
        }, use_bin_type=True))

    @classmethod
    def from_bytes(cls, data: bytes, space: ItemSpace) -> "UserWNN":
        """Load a state written by :meth:`to_bytes`. Raises :class:`StateError` with the reason if it is unusable."""
        doc = _state_document(data)
        model = cls(space)
        if doc.get("cfg") != model._cfg.fingerprint():
            raise StateError("user state was written under a different WNN config (wiring fingerprint "
                             f"{doc.get('cfg')!r}, expected {model._cfg.fingerprint()!r})")
        n = doc.get("n")
        if not isinstance(n, int) or n < 0:
            raise StateError(f"user state has an invalid pair count {n!r}")
        columns = {}
        for field, name, dtype in (("event_ids", "_event_ids", np.int64), ("ratings", "_ratings", np.float32),
                                   ("ts", "_ts", np.int64), ("residuals", "_residuals", np.float32),
                                   ("codes", "_codes", np.uint32)):
            raw = doc.get(field)
            expected = n * np.dtype(dtype).itemsize
            if not isinstance(raw, bytes) or len(raw) != expected:
                got = len(raw) if isinstance(raw, bytes) else type(raw).__name__
                raise StateError(f"user state field {field!r} is truncated or corrupt: expected {expected} bytes, "
                                 f"got {got}")
            columns[name] = np.frombuffer(raw, dtype=dtype).copy()
        items = doc.get("items")
        if not isinstance(items, list) or len(items) != n:
            raise StateError("user state field 'items' is missing or has the wrong length")
        ratings, residuals = columns["_ratings"], columns["_residuals"]
        if not (np.isfinite(ratings).all() and np.isfinite(residuals).all()):
            raise StateError("user state holds non-finite ratings or residuals")
        if n and (ratings.min() < 0 or ratings.max() > 10 or np.abs(residuals).max() > 10):
            raise StateError("user state holds ratings or residuals outside any rating scale")
        if not space.valid_code(columns["_codes"]):
            raise StateError("user state holds item codes outside this config's bit layout")
        try:
            columns["_items"] = np.array([space.index(key) for key in items], dtype=np.int64)
        except TypeError as exc:
            raise StateError(f"user state holds an unusable item id: {exc}") from None
        for name, arr in columns.items():
            setattr(model, name, arr)
        model.n_pairs = n
        model._item_keys = list(items)
        model._seen = set(columns["_event_ids"].tolist())
        model._rebuild()
        return model

    @staticmethod
    def stored_contributions(data: bytes, user_prior: float) -> tuple[list[Hashable], np.ndarray, np.ndarray, np.ndarray]:
        """Item ids, ratings, times and centred ratings of a serialized state's pairs, oldest first, without
        rebuilding the network (what recovery needs to re-derive the item statistics and next-item counts)."""
        doc = _state_document(data)
        try:
            items, n = doc["items"], doc["n"]
            if not isinstance(items, list) or len(items) != n:
                raise ValueError("'items' is missing or has the wrong length")
            ratings = np.frombuffer(doc["ratings"], dtype=np.float32, count=n)
            stamps = np.frombuffer(doc["ts"], dtype=np.int64, count=n)
            centered = _centered(np.frombuffer(doc["residuals"], dtype=np.float32, count=n), user_prior)
        except Exception as exc:  # includes a non-bytes value and a non-map document
            raise StateError(f"user state is unreadable ({type(exc).__name__}: {exc})") from None
        return items, ratings, stamps, centered

    @property
    def nbytes(self) -> int:
        """Size of the serialized state."""
        return len(self.to_bytes())


def learn_many(model: UserWNN, events: Sequence[tuple[Hashable, float, int, int]]) -> UserWNN:
    """Learn ``(item, rating, ts, event_id)`` tuples in order; returns the model, for chaining in tests."""
    for item, rating, ts, event_id in events:
        model.learn_one(item, rating, ts, event_id)
    return model
