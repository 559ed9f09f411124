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
the sum of their residual ratings (rating minus the item's global baseline) and the number of likes. Learning writes
cells, with no gradient.

**The state is the pairs; everything else is derived.** The stored state is the training pairs (event id, item,
rating, time). The tables, the Q states, the taste window and the residuals are a pure function of those pairs and
of the item space *as it is now* (baselines, codes, addresses): :meth:`UserWNN.reconcile` brings them up to date
before every read, incrementally (only the pairs whose items changed are re-read; exact fixed-point arithmetic makes
the patched tables equal the rebuilt ones bit for bit). So ``forget(e)`` leaves exactly the state a network that
never learned ``e`` has, and so does any change of the global statistics that a forget elsewhere causes.

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

import collections
import math
from collections.abc import Hashable, Sequence
from typing import NamedTuple

import numpy as np

from wnn import drift, ranking, taste_change, user_codec
from wnn.explanation import Explanation, explain
from wnn.item_space import ItemSpace
from wnn.memory import COUNT, LIKES, RESIDUAL, CountingMemory
from wnn.pairs import PairLog
from wnn.recurrence import next_state, states_before
from wnn.residuals import RESIDUAL_QUANTUM, centred_rating, centred_ratings, residual_units
from wnn.state_format import StateError
from wnn.user_codec import FORMAT_VERSION, UNSEALED_FORMAT_VERSION
from wnn.validation import check_id, check_rating_event

__all__ = ["FORMAT_VERSION", "UNSEALED_FORMAT_VERSION", "Explanation", "Learned", "Prediction", "StateError",
           "UserWNN", "learn_many"]


class Prediction(NamedTuple):
    """A predicted rating and the probability that the user likes the item."""

    rating: float
    like_probability: float


class Learned(NamedTuple):
    """What learning one rating did.

    ``restarted``: it restarted the user's taste window (the stream's drift flag). ``evicted``: the event ids the size
    limit (``max_pairs``) forgot to make room. ``duplicate``: the event id was already stored, so nothing changed.
    :func:`wnn.contributions.learn_event` also fills ``added`` (the rating's own contribution to its item's
    statistics) and, after an eviction, ``change`` (the user's contribution change it applied).
    """

    restarted: bool = False
    evicted: tuple[int, ...] = ()
    duplicate: bool = False
    added: object | None = None
    change: object | None = None


DUPLICATE = Learned(duplicate=True)

#: Derived per-pair columns: the residual in 1/256 star against the item's baseline and the item's dynamic code when
#: the pair was last read, and Q before the pair (within the taste window).
_DERIVED = {"units": np.int32, "codes": np.uint32, "q_before": np.int8}


class UserWNN:
    """Per-user recurrent WNN. River-style API: :meth:`learn_one`, :meth:`predict_one`, :meth:`score`.

    Parameters
    ----------
    space
        The shared item space (encoder, wiring, statistics, address cache).
    pairs
        Stored pairs to start from (as loaded by :meth:`from_bytes`).
    """

    def __init__(self, space: ItemSpace, pairs: PairLog | None = None) -> None:
        self.space = space
        cfg = self._cfg = space.config
        self.memory = CountingMemory(cfg)
        self._like = cfg.like_threshold
        self._detect = cfg.drift_threshold is not None
        self.pair_log = pairs if pairs is not None else PairLog()
        self._derived = {name: np.zeros(self.pair_log.capacity, dtype=dtype) for name, dtype in _DERIVED.items()}
        self._state = 0
        # Taste-change window (wnn.taste_change): the tables hold the pairs from self._window.start on.
        self._window = taste_change.WindowState()
        # Sum of every stored rating (float64 of float32 values: exact), for the next rating's user-centred value.
        self._rating_total = float(self.pair_log.ratings.astype(np.float64).sum())
        self._synced = -1  # the space's generation the derived state was last brought up to date with
        self._held: collections.Counter = collections.Counter()  # the pairs' items, for reconcile's lookups
        self._stale = self.pair_log.n > 0  # derived state must be rebuilt from the pairs before the next read

    @property
    def n_pairs(self) -> int:
        return self.pair_log.n

    # ------------------------------------------------------------------ derivation
    def reconcile(self) -> None:
        """Bring every derived value up to date with the pairs and the item space, exactly as :meth:`rebuild` would.

        Only the pairs whose items changed since the last read are read again (the space logs which items changed):
        their residuals and codes, then the taste window if a residual moved (a rescan of the residuals), then the
        tables, by moving what the pair wrote to where and what it writes now. A moved window start, or a forget,
        rebuilds the tables instead. Every read calls this first; it costs one integer comparison when nothing
        changed, and a set lookup per changed item when something did.
        """
        space = self.space
        if self._stale:
            self.rebuild()
            return
        if self._synced == space.generation:
            return
        n = self.pair_log.n
        if n:
            changed_items = space.changed_since(self._synced)
            if changed_items is None or len(changed_items) > 16 + n // 4:
                # Long ago, or many changes: read every pair again (vectorised), cheaper than a lookup per change.
                self._patch(np.arange(n))
            else:
                held = self._held
                hits = {i for i in changed_items if i in held}
                if hits:
                    self._patch(np.flatnonzero(np.isin(self.pair_log.items, list(hits))))
        self._synced = space.generation

    def rebuild(self) -> None:
        """Derive everything from the stored pairs and the item space as it is now."""
        log, space, derived = self.pair_log, self.space, self._derived
        n, items = log.n, log.items
        derived["units"][:n] = residual_units(log.ratings, space.baselines(items))
        derived["codes"][:n] = space.dynamic_codes[items]
        self._held = collections.Counter(items.tolist())
        self._rating_total = float(log.ratings.astype(np.float64).sum())
        self._window = self._scan()
        self._rebuild_tables()
        self._synced, self._stale = space.generation, False

    def _scan(self) -> taste_change.WindowState:
        if not self._detect:
            return taste_change.WindowState()
        cfg = self._cfg
        return taste_change.scan(self._derived["units"][: self.pair_log.n], cfg.drift_allowance, cfg.drift_threshold)

    def _residuals(self, start: int, stop: int) -> np.ndarray:
        """Residual ratings of pairs ``start..stop-1`` in stars (exact: units of 1/256)."""
        return self._derived["units"][start: stop] * RESIDUAL_QUANTUM

    def _rebuild_tables(self) -> None:
        """The tables and Q from the pairs of the taste window, with their current residuals and addresses."""
        log, space, cfg = self.pair_log, self.space, self._cfg
        if not log.n:  # no pairs (all forgotten): the memory of a network that never learned anything
            self.memory.clear()
            self._state = 0
            return
        window = slice(self._window.start, log.n)
        items = log.items[window]
        liked = log.ratings[window] >= self._like
        before, self._state = states_before(liked, space.channels[items], cfg.n_state_bits)
        self._derived["q_before"][window] = before
        cells = self.memory.layout.cells(space.addresses[items].astype(np.int64), before)
        self.memory.rebuild(cells, self._derived["units"][window], liked)

    def _patch(self, changed: np.ndarray) -> None:
        """Re-read the pairs at positions ``changed``, whose items may have changed (see :meth:`reconcile`)."""
        log, space, derived = self.pair_log, self.space, self._derived
        items = log.items[changed]
        units = residual_units(log.ratings[changed], space.baselines(items))
        codes = space.dynamic_codes[items]
        old_units, old_codes = derived["units"][changed], derived["codes"][changed]
        moved = (units != old_units) | (codes != old_codes)
        if not moved.any():
            return
        residual_moved = bool((units != old_units).any())
        changed, items, units, codes = changed[moved], items[moved], units[moved], codes[moved]
        old_units, old_codes = old_units[moved], old_codes[moved]
        derived["units"][changed] = units
        derived["codes"][changed] = codes
        if residual_moved and self._detect:
            window = self._scan()
            start_moved = window.start != self._window.start
            self._window = window
            if start_moved:
                self._rebuild_tables()
                return
        inside = changed >= self._window.start
        if not inside.any():
            return
        if inside.sum() * 4 > self.pair_log.n - self._window.start:
            self._rebuild_tables()  # many pairs moved: counting the window afresh is cheaper than moving them
            return
        changed, items = changed[inside], items[inside]
        q = derived["q_before"][changed].astype(np.int64)
        liked = log.ratings[changed] >= self._like
        layout = self.memory.layout
        old_cells = layout.cells(space.addresses_for(items, old_codes[inside]), q)
        new_cells = layout.cells(space.addresses[items].astype(np.int64), q)
        self.memory.move(old_cells, new_cells, old_units[inside], units[inside], liked)

    def _grow_derived(self) -> None:
        capacity = self.pair_log.capacity
        for name, old in self._derived.items():
            if len(old) < capacity:
                new = np.zeros(capacity, dtype=old.dtype)
                new[: len(old)] = old
                self._derived[name] = new

    # ------------------------------------------------------------------ learning
    def learn_one(self, item: Hashable, rating: float, ts: int, event_id: int) -> None:
        """Write one rating into the tables. A repeated ``event_id`` is ignored (at-least-once delivery is safe).
        Bad input raises :class:`wnn.validation.InvalidEvent` and changes nothing (the item is not registered)."""
        check_id(item)
        self.learn_index(self.space.index(item), rating, ts, event_id)

    def knows(self, event_id: int) -> bool:
        """Whether a pair with this event id is stored (a redelivered event must not be counted twice)."""
        return self.pair_log.knows(event_id)

    def centred_rating(self, rating: float) -> float:
        """The user-centred value the next rating would have (:func:`wnn.residuals.centred_rating`): what it adds,
        times the user's random vector, to its item's collaborative projection."""
        cfg = self._cfg
        return centred_rating(float(np.float32(rating)), self._rating_total, self.pair_log.n, cfg.user_prior,
                              cfg.prior_mean)

    def learn_index(self, idx: int, rating: float, ts: int, event_id: int, evict: bool = True) -> Learned:
        """:meth:`learn_one` for a dense item index of the space; returns what happened (:class:`Learned`).

        The pair's residual is taken against the item's baseline as the space holds it now. With ``evict`` the
        oldest tenth of the pairs is forgotten when the user holds more than ``max_pairs`` (the caller that keeps
        the global statistics evicts through :func:`wnn.contributions.forget_events` instead). A repeated
        ``event_id`` changes nothing. Bad input raises :class:`wnn.validation.InvalidEvent` and changes nothing.
        """
        rating, ts, event_id = check_rating_event(rating, ts, event_id)
        if self.pair_log.knows(event_id):
            return DUPLICATE
        return self.learn_checked(idx, float(np.float32(rating)), ts, event_id, evict)

    def learn_checked(self, idx: int, rating: float, ts: int, event_id: int, evict: bool = True) -> Learned:
        """:meth:`learn_index` for a new event whose fields were already checked (a float32 rating value)."""
        log = self.pair_log
        self.reconcile()
        space, n = self.space, log.n
        units = round((rating - space.baseline(idx)) * 256.0)  # residual_units() of one rating
        liked = rating >= self._like
        q = self._state
        log.append(event_id, idx, space.key(idx), rating, ts)
        if log.capacity > len(self._derived["units"]):
            self._grow_derived()
        derived = self._derived
        derived["units"][n], derived["codes"][n], derived["q_before"][n] = units, space.dynamic_codes[idx], q
        self._held[idx] += 1
        self._rating_total += rating
        self.memory.write(space.cell_base[idx], q, units, liked)
        self._state = next_state(q, int(space.channels[idx]), liked)
        restarted = False
        if self._detect:
            cfg = self._cfg
            window = taste_change.step(self._window, units, cfg.drift_allowance, cfg.drift_threshold,
                                       derived["units"][: log.n])
            restarted = window.start != self._window.start
            self._window = window
            if restarted:
                self._rebuild_tables()
        if evict and log.n > self._cfg.max_pairs:
            evicted = self.eviction_due()
            self.forget_many(evicted)
            return Learned(restarted=False, evicted=evicted)
        return Learned(restarted=restarted)

    def eviction_due(self) -> tuple[int, ...]:
        """The event ids the size limit forgets now: the oldest tenth of ``max_pairs`` (and every pair beyond it),
        once the user holds more than ``max_pairs``; else none."""
        limit, log = self._cfg.max_pairs, self.pair_log
        if log.n <= limit:
            return ()
        return tuple(log.event_ids[: log.n - limit + limit // 10].tolist())

    def forget(self, event_id: int) -> bool:
        """Remove one training pair exactly, as if it had never been learned. Returns False if it is not stored."""
        hits = self.pair_log.positions_of(event_id)
        if not len(hits):
            return False
        self._delete(hits)
        return True

    def forget_many(self, event_ids: Sequence[int]) -> None:
        """Remove the stored pairs with these event ids (the others are ignored)."""
        positions = np.flatnonzero(np.isin(self.pair_log.event_ids, np.asarray(event_ids, dtype=np.int64)))
        if len(positions):
            self._delete(positions)

    def _delete(self, positions: np.ndarray) -> None:
        keep = np.ones(self.pair_log.n, dtype=bool)
        keep[positions] = False
        self.pair_log.delete(positions)
        self._rating_total = float(self.pair_log.ratings.astype(np.float64).sum())
        self._derived = {name: column[: len(keep)][keep].copy() for name, column in self._derived.items()}
        self._stale = True  # everything after the deleted pairs changes: derived again before the next read

    # ------------------------------------------------------------------ inference
    def predict_one(self, item: Hashable) -> Prediction:
        """Expected rating and like probability of one item, from the current tables and Q state."""
        return self.predict_index(self.space.index(item))

    def predict_index(self, idx: int) -> Prediction:
        """:meth:`predict_one` for a dense item index of the space (skips the id lookup on the hot path)."""
        self.reconcile()
        space = self.space
        baseline = space.baseline(idx)
        if self.memory.empty:  # an empty memory: the same formula with every cell at zero
            rating = 1.0 if baseline < 1.0 else 5.0 if baseline > 5.0 else baseline
            return Prediction(rating, 1.0 / (1.0 + math.exp(-2.0 * (rating - self._like + 0.5))))
        cfg = self._cfg
        cells = self.memory.gather(space.cell_base[idx], self._state).astype(np.float64)
        pooled = cells[:, 1:]  # every Z neuron but the bias neuron
        count, _, likes = pooled.sum(axis=1).tolist()
        user_bias = cells.item(RESIDUAL, 0) * RESIDUAL_QUANTUM / (cells.item(COUNT, 0) + cfg.user_prior)
        # sum_n (S_n - N_n b) / (N_n + prior) = S.v - b N.v with v_n = 1 / (N_n + prior): one product. Always the
        # same two rows of a fresh (3, M) array, so BLAS sums them in the same order for equal cells (a
        # many-item product would not: see pooled_predictions).
        weighted_count, weighted_units = (pooled[:2] @ (1.0 / (pooled[COUNT] + cfg.interaction_prior))).tolist()
        deviation = weighted_units * RESIDUAL_QUANTUM - user_bias * weighted_count
        rating = baseline + user_bias + cfg.interaction_gain * deviation / (cfg.n_neurons - 1)
        rating = 1.0 if rating < 1.0 else 5.0 if rating > 5.0 else rating
        prior = cfg.interaction_prior * (cfg.n_neurons - 1)
        prior_like = 1.0 / (1.0 + math.exp(-2.0 * (rating - self._like + 0.5)))
        return Prediction(rating, (likes + prior * prior_like) / (count + prior))

    def predict_all(self, items: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict_index` of every item of the space (dense index order), or of ``items``, vectorised:
        predicted ratings and like probabilities (equal to the one-item path up to float rounding)."""
        self.reconcile()
        rating, pooled, _ = self.pooled_predictions(items)
        count, likes = pooled
        prior = self._cfg.interaction_prior * (self._cfg.n_neurons - 1)
        prior_like = 1.0 / (1.0 + np.exp(-2.0 * (rating - self._like + 0.5)))
        return rating, (likes + prior * prior_like) / (count + prior)

    def pooled_predictions(self, items: np.ndarray | None
                           ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], float]:
        """Predicted ratings of ``items`` (every item if None), the pooled count and likes of the cells they address
        (summed over the Z neurons but the bias neuron), and the bias neuron's count (the user's window size). The
        caller reconciles first (:meth:`predict_all`, :func:`wnn.ranking.score_terms` through :meth:`score`)."""
        space, cfg = self.space, self._cfg
        baselines = space.baselines(items)
        if self.memory.empty:
            zeros = np.zeros(len(baselines))
            return np.clip(baselines, 1.0, 5.0), (zeros, zeros), 0.0
        layout, table = self.memory.layout, self.memory.table
        base = space.cell_base[: space.n_items] if items is None else space.cell_base[items]
        # One row of cells per item; the sums over a row's neurons (the bias neuron left out) run along the row, in
        # the same order for every row wherever it sits (a BLAS product's order may depend on the row's position):
        # equal cells, equal predictions.
        cells = base + layout.state_shift[self._state]
        counts = table[COUNT].take(cells)[:, 1:]
        bias_count = float(table[COUNT, 0])
        user_bias = int(table[RESIDUAL, 0]) * RESIDUAL_QUANTUM / (bias_count + cfg.user_prior)
        deviation = (table[RESIDUAL].take(cells)[:, 1:] * RESIDUAL_QUANTUM - counts * user_bias) / (
            counts + cfg.interaction_prior)
        rating = np.clip(baselines + user_bias + cfg.interaction_gain * deviation.sum(axis=1) / (cfg.n_neurons - 1),
                         1.0, 5.0)
        return rating, (counts.sum(axis=1), table[LIKES].take(cells)[:, 1:].sum(axis=1)), bias_count

    def score(self, ts: float | None = None, k: int = 10, exclude_rated: bool = True, use_candidates: bool = True
              ) -> tuple[list[Hashable], np.ndarray]:
        """The top-``k`` item ids for this user and their ranking scores, best first (:func:`wnn.ranking.top_items`)."""
        self.reconcile()
        return ranking.top_items(self, ts, k, exclude_rated, use_candidates)

    def rank_scores(self, ts: float | None = None, items: np.ndarray | None = None) -> np.ndarray:
        """Ranking score of every item in the space (dense index order), or of ``items`` only; rated items included
        (:func:`wnn.ranking.rank_scores`)."""
        self.reconcile()
        return ranking.rank_scores(self, ts, items)

    def explain_list(self, items: list[Hashable], ts: float | None = None) -> list[dict]:
        """Why each of ``items`` is where it is in this user's list: its ranking score split into weighted terms
        (:func:`wnn.ranking.explain_items`)."""
        self.reconcile()
        return ranking.explain_items(self, items, ts)

    def list_time(self, ts: float | None) -> float:
        """The event time a list is ranked at: ``ts``, else the newest stored pair's (0 without pairs)."""
        if ts is not None:
            return float(ts)
        return float(self.last_ts) if self.n_pairs else 0.0

    def explain(self, item: Hashable, top: int = 5) -> Explanation:
        """The stored pairs and the neurons that drove the item's predicted rating (:mod:`wnn.explanation`)."""
        self.reconcile()
        return explain(self, item, top)

    # ------------------------------------------------------------------ introspection
    @property
    def user_bias(self) -> float:
        """The bias neuron's shrunk mean residual over the taste window: what the network adds to every item's
        baseline for this user."""
        self.reconcile()
        if self.memory.empty:
            return 0.0
        table = self.memory.table
        return int(table[RESIDUAL, 0]) * RESIDUAL_QUANTUM / (float(table[COUNT, 0]) + self._cfg.user_prior)

    @property
    def window_start(self) -> int:
        """Position of the first stored pair that still votes (0 until a taste change was detected)."""
        self.reconcile()
        return self._window.start

    @property
    def window(self) -> taste_change.WindowState:
        """The taste-change detector's state after the stored pairs."""
        self.reconcile()
        return self._window

    @property
    def state(self) -> int:
        """Current Q layer bits."""
        self.reconcile()
        return self._state

    def derived(self) -> dict[str, np.ndarray]:
        """Everything derived from the pairs, brought up to date (copies): each pair's residual (1/256 star), item
        code and Q state before it, the tables, and the window and Q after the last pair. What an audit hashes."""
        self.reconcile()
        n, start = self.pair_log.n, self._window.start
        table = self.memory.table if not self.memory.empty else np.zeros((3, self.memory.layout.size), np.int32)
        return {"units": self._derived["units"][:n].copy(), "codes": self._derived["codes"][:n].copy(),
                "q_before": self._derived["q_before"][start: n].copy(), "table": table.copy(),
                "window": np.array(self._window, dtype=np.float64), "state": np.array([self._state])}

    def residuals(self) -> np.ndarray:
        """Each stored pair's residual rating against its item's baseline now, in stars (a copy)."""
        self.reconcile()
        return self._residuals(0, self.pair_log.n).copy()

    def q_before(self) -> np.ndarray:
        """Q before each pair of the taste window (a copy)."""
        self.reconcile()
        return self._derived["q_before"][self._window.start: self.pair_log.n].astype(np.int64)

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

    def event_ids_of(self, item: Hashable) -> list[int]:
        """The event ids of the user's stored ratings of ``item`` (by id; the same id as a string matches too, as
        ids arrive as strings on the wire)."""
        log = self.pair_log
        return [e for e, key in zip(log.event_ids.tolist(), log.keys) if key == item or str(key) == str(item)]

    def rated_items(self) -> list[Hashable]:
        return list(self.pair_log.keys)

    def pairs(self) -> list[dict]:
        """The stored training pairs, oldest first: what the user can inspect and delete."""
        return self.pair_log.listing()

    def centred_ratings(self) -> np.ndarray:
        """Each stored pair's user-centred value, oldest first: the rating minus the user's mean over the pairs before
        it, shrunk toward ``prior_mean`` (:func:`wnn.residuals.centred_ratings`). A function of the user's own
        ratings only, so a forget changes the values of the user's later pairs, never anyone else's."""
        cfg = self._cfg
        return centred_ratings(self.pair_log.ratings, cfg.user_prior, cfg.prior_mean)

    @property
    def memory_bytes(self) -> int:
        """Approximate memory of the live network (what a cache of users should count)."""
        return 2048 + self.memory.nbytes + self.pair_log.capacity * 45 + self.pair_log.n * 60

    # ------------------------------------------------------------------ serialization
    def to_bytes(self) -> bytes:
        """The stored pairs as sealed msgpack (:mod:`wnn.user_codec`); everything else is derived on load."""
        return user_codec.encode(self.pair_log, self._cfg.fingerprint())

    @classmethod
    def from_bytes(cls, data: bytes, space: ItemSpace) -> "UserWNN":
        """Load a state written by :meth:`to_bytes`. Raises :class:`StateError` with the reason if it is unusable."""
        return cls(space, user_codec.decode(data, space))

    @property
    def nbytes(self) -> int:
        """Size of the serialized state."""
        return len(self.to_bytes())


def learn_many(model: UserWNN, events: Sequence[tuple[Hashable, float, int, int]]) -> UserWNN:
    """Learn ``(item, rating, ts, event_id)`` tuples in order; returns the model, for chaining in tests."""
    for item, rating, ts, event_id in events:
        model.learn_one(item, rating, ts, event_id)
    return model
