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
Learned(restarted=False, evicted=(), duplicate=False, added=None, change=None)
>>> user.predict_one(1).rating < user.predict_one(2).rating   # the other horror film is predicted lower
True
>>> user.forget(10)
True
>>> user.n_pairs
0
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from wnn import prediction, ranking, taste_change, user_codec
from wnn.derivation import Derivation
from wnn.explanation import Explanation, explain
from wnn.item_space import ItemSpace
from wnn.memory import COUNT, RESIDUAL, CountingMemory
from wnn.pairs import COLUMNS as PAIR_COLUMNS
from wnn.pairs import DERIVED_COLUMNS, PairLog
from wnn.prediction import Prediction
from wnn.residuals import RESIDUAL_QUANTUM, centred_rating, centred_ratings
from wnn.state_format import StateError
from wnn.user_codec import FORMAT_VERSION, UNSEALED_FORMAT_VERSION
from wnn.validation import check_id, check_rating_event

if TYPE_CHECKING:  # wnn.contributions imports this module
    from wnn.item_stats import ContributionChange, RatingRow

__all__ = [
    "FORMAT_VERSION",
    "UNSEALED_FORMAT_VERSION",
    "Explanation",
    "Learned",
    "Prediction",
    "StateError",
    "UserWNN",
]


class Learned(NamedTuple):
    """What learning one rating did.

    ``restarted``: it restarted the user's taste window (the stream's drift flag). ``evicted``: the event ids the size
    limit (``max_pairs``) forgot to make room. ``duplicate``: the event id was already stored, so nothing changed.
    :func:`wnn.contributions.learn_event` also fills ``added`` (the rating as its item's statistics took it) and,
    after an eviction, ``change`` (the user's contribution change it applied).
    """

    restarted: bool = False
    evicted: tuple[int, ...] = ()
    duplicate: bool = False
    added: RatingRow | None = None
    change: ContributionChange | None = None


DUPLICATE = Learned(duplicate=True)


#: What :attr:`UserWNN.memory_bytes` counts: an empty network's objects and arrays, each row of room in its pair and
#: derived columns, and each stored pair's slot in the list of its item ids.
NETWORK_BYTES = 855
ROW_BYTES = sum(np.dtype(dtype).itemsize for dtype in (*PAIR_COLUMNS.values(), *DERIVED_COLUMNS.values()))
PAIR_BYTES = 8


class UserWNN:
    """Per-user recurrent WNN. River-style API: :meth:`learn_one`, :meth:`predict_one`, :meth:`score`.

    The stored state is :attr:`pair_log`; everything else is :attr:`derived` (:mod:`wnn.derivation`), brought up to
    date before every read.

    Parameters
    ----------
    space
        The shared item space (encoder, wiring, statistics, address cache).
    pairs
        Stored pairs to start from (as loaded by :meth:`from_bytes`).
    """

    __slots__ = ("_cfg", "derived_state", "pair_log", "space")

    def __init__(self, space: ItemSpace, pairs: PairLog | None = None) -> None:
        self.space = space
        self._cfg = space.config
        self.pair_log = pairs if pairs is not None else PairLog()
        self.derived_state = Derivation(space, self.pair_log)

    @property
    def n_pairs(self) -> int:
        return self.pair_log.n

    @property
    def memory(self) -> CountingMemory:
        """The Z tables as kept (up to date after :meth:`reconcile`; a network with a short taste window keeps none:
        :meth:`wnn.derivation.Derivation.table` counts them when asked)."""
        return self.derived_state.memory

    def reconcile(self) -> None:
        """Bring every derived value up to date with the pairs and the item space (:meth:`Derivation.reconcile`)."""
        self.derived_state.reconcile()

    # ------------------------------------------------------------------ learning
    def learn_one(self, item: Hashable, rating: float, ts: int, event_id: int) -> Learned:
        """Learn one rating: its pair written into the tables, against the item's baseline as the space holds it now.

        The one way to teach a network a rating. A repeated ``event_id`` changes nothing (at-least-once delivery is
        safe). When the user then holds more than ``max_pairs``, the oldest tenth of the pairs is forgotten (a
        caller that keeps the global item statistics learns through :func:`wnn.contributions.learn_event`
        instead, which moves those too). Bad input raises :class:`wnn.validation.InvalidEvent` and changes nothing
        (the item is not registered). Returns what happened (:class:`Learned`).
        """
        check_id(item)
        rating, ts, event_id = check_rating_event(rating, ts, event_id, self.space.config.rating_scale)
        if self.pair_log.knows(event_id):
            return DUPLICATE
        restarted = self.append_pair(self.space.index(item), float(np.float32(rating)), ts, event_id)
        if self.pair_log.n > self._cfg.max_pairs:
            evicted = self.eviction_due()
            self.forget_many(evicted)
            return Learned(restarted=False, evicted=evicted)
        return Learned(restarted=restarted)

    def knows(self, event_id: int) -> bool:
        """Whether a pair with this event id is stored (a redelivered event must not be counted twice)."""
        return self.pair_log.knows(event_id)

    def centred_rating(self, rating: float) -> float:
        """The user-centred value the next rating would have (:func:`wnn.residuals.centred_rating`): what it adds,
        times the user's random vector, to its item's collaborative projection."""
        cfg = self._cfg
        return centred_rating(
            float(np.float32(rating)), self.pair_log.rating_total, self.pair_log.n, cfg.user_prior, cfg.prior_mean
        )

    def append_pair(self, idx: int, rating: float, ts: int, event_id: int) -> bool:
        """Append a new pair whose fields were checked (a float32 rating value, an event id not stored) and derive
        what it changes; no size limit applies. The primitive under :meth:`learn_one` and
        :func:`wnn.contributions.learn_event`. Returns whether the taste window restarted."""
        self.derived_state.reconcile()
        self.pair_log.append(event_id, idx, self.space.key(idx), rating, ts)
        return self.derived_state.append(idx, rating)

    def eviction_due(self) -> tuple[int, ...]:
        """The event ids the size limit forgets now: the oldest tenth of ``max_pairs`` (and every pair beyond it),
        once the user holds more than ``max_pairs``; else none."""
        limit, log = self._cfg.max_pairs, self.pair_log
        if log.n <= limit:
            return ()
        return tuple(log.event_ids[: log.n - limit + limit // 10].tolist())

    def forget(self, event_id: int) -> bool:
        """Remove one training pair exactly, as if it had never been learned. Returns False if it is not stored."""
        hits = self.pair_log.positions_of_many([event_id])
        if not len(hits):
            return False
        self._delete(hits)
        return True

    def forget_many(self, event_ids: Sequence[int]) -> None:
        """Remove the stored pairs with these event ids (the others are ignored)."""
        positions = self.pair_log.positions_of_many(event_ids)
        if len(positions):
            self._delete(positions)

    def _delete(self, positions: np.ndarray) -> None:
        keep = np.ones(self.pair_log.n, dtype=bool)
        keep[positions] = False
        self.pair_log.delete(positions)
        self.derived_state.drop(keep)

    # ------------------------------------------------------------------ inference
    def predict_one(self, item: Hashable) -> Prediction:
        """Expected rating and like probability of one item, from the current tables and Q state."""
        return self.predict_index(self.space.index(item))

    def predict_index(self, idx: int) -> Prediction:
        """:meth:`predict_one` for a dense item index of the space (skips the id lookup on the hot path)."""
        self.derived_state.reconcile()
        return prediction.predict(self.derived_state, idx)

    def predict_all(self, items: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict_index` of every item of the space (dense index order), or of ``items``, vectorised:
        predicted ratings and like probabilities (equal to the one-item path up to float rounding)."""
        self.derived_state.reconcile()
        rating, (count, likes), _ = prediction.pooled(self.derived_state, items)
        return rating, prediction.like_probabilities(rating, count, likes, self._cfg)

    def pooled_predictions(self, items: np.ndarray | None) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], float]:
        """:func:`wnn.prediction.pooled` of this network (the caller reconciles first)."""
        return prediction.pooled(self.derived_state, items)

    def score(
        self, ts: float | None = None, k: int = 10, exclude_rated: bool = True, use_candidates: bool = True
    ) -> tuple[list[Hashable], np.ndarray]:
        """The top-``k`` item ids for this user and their ranking scores, best first (:func:`wnn.ranking.top_items`)."""
        self.reconcile()
        return ranking.top_items(self, ts, k, exclude_rated, use_candidates)

    def rank_scores(self, ts: float | None = None, items: np.ndarray | None = None) -> np.ndarray:
        """Ranking score of every item in the space (dense index order), or of ``items`` only; rated items included
        (:func:`wnn.ranking.rank_scores`)."""
        self.reconcile()
        return ranking.rank_scores(self, ts, items)

    def explain_list(self, items: list[Hashable], ts: float | None = None) -> list[dict[str, Any]]:
        """Why each of ``items`` is where it is in this user's list: its ranking score split into weighted terms
        (:func:`wnn.ranking.explain_items`)."""
        self.reconcile()
        return ranking.explain_items(self, items, ts)

    def list_time(self, ts: float | None) -> float:
        """The event time a list is ranked at: ``ts``, else the newest stored pair's (0 without pairs)."""
        if ts is not None:
            return float(ts)
        last = self.last_ts
        return float(last) if self.n_pairs and last is not None else 0.0

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
        table = self.derived_state.table()
        if table is None:
            return 0.0
        return int(table[RESIDUAL, 0]) * RESIDUAL_QUANTUM / (float(table[COUNT, 0]) + self._cfg.user_prior)

    @property
    def window_start(self) -> int:
        """Position of the first stored pair that still votes (0 until a taste change was detected)."""
        return self.window.start

    @property
    def window(self) -> taste_change.WindowState:
        """The taste-change detector's state after the stored pairs."""
        self.reconcile()
        return self.derived_state.window

    @property
    def state(self) -> int:
        """Current Q layer bits."""
        self.reconcile()
        return self.derived_state.state

    def derived(self) -> dict[str, np.ndarray]:
        """Everything derived from the pairs, brought up to date (copies): each pair's residual (1/256 star), item
        code and Q state before it, the tables, and the window and Q after the last pair. What an audit hashes."""
        self.reconcile()
        derived, start = self.derived_state, self.derived_state.window.start
        table = derived.table()
        if table is None:
            table = np.zeros((3, self.memory.layout.size), np.int32)
        return {
            "units": derived.column("units").copy(),
            "codes": derived.column("codes").copy(),
            "q_before": derived.column("q_before")[start:].copy(),
            "table": table.copy(),
            "window": np.array(derived.window, dtype=np.float64),
            "state": np.array([derived.state]),
        }

    def residuals(self) -> np.ndarray:
        """Each stored pair's residual rating against its item's baseline now, in stars (a copy)."""
        self.reconcile()
        return self.derived_state.residuals().copy()

    def q_before(self) -> np.ndarray:
        """Q before each pair of the taste window (a copy)."""
        self.reconcile()
        derived = self.derived_state
        return derived.column("q_before")[derived.window.start :].astype(np.int64)

    def taste_shift(self) -> float:
        """JS divergence between the genre mix of the user's recent and all stored ratings (:func:`wnn.drift.
        taste_shift`), derived from the pairs: a forgotten rating leaves no trace in it."""
        self.reconcile()
        return self.derived_state.taste_shift()

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

    def pairs(self) -> list[dict[str, Any]]:
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
        """Approximate memory of the live network (what a cache of users should count): the objects and arrays of
        an empty one, the pair and derived columns' room, the tables, and per pair its slot in the list of item ids
        (measured with tracemalloc; ``tests/wnn/test_network.py`` holds it within 15% of the truth)."""
        log = self.pair_log
        return NETWORK_BYTES + self.derived_state.kept_bytes + log.capacity * ROW_BYTES + log.n * PAIR_BYTES

    # ------------------------------------------------------------------ serialization
    def to_bytes(self) -> bytes:
        """The stored pairs as sealed msgpack (:mod:`wnn.user_codec`); everything else is derived on load."""
        return user_codec.encode(self.pair_log, self._cfg.fingerprint())

    @classmethod
    def from_bytes(cls, data: bytes, space: ItemSpace) -> UserWNN:
        """Load a state written by :meth:`to_bytes`. Raises :class:`StateError` with the reason if it is unusable."""
        return cls(space, user_codec.decode(data, space))

    @property
    def nbytes(self) -> int:
        """Size of the serialized state."""
        return len(self.to_bytes())
