"""What a worker does with each input message, as plain objects the Faust agents call (no Kafka here).

:class:`StreamProcessor` owns the worker's :class:`~wnn.item_space.ItemSpace` replica, an LRU cache of live user
networks (the RocksDB table is the durable copy; the cache saves a msgpack decode and table rebuild per event), the
item-statistics shares (see :mod:`wnn.item_stats`) and the global drift window. Each ``on_*`` method takes the
user's stored state and returns everything the agent must write: the new state, the messages to send, and the item
share to publish.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable

import msgpack
import numpy as np
from cachetools import LRUCache

from wnn.config import WNNConfig
from wnn.data import Dataset
from wnn.drift import UserDrift
from wnn.item_space import ItemSpace
from wnn.item_stats import ItemPartial
from wnn.network import FORMAT_VERSION as MODEL_FORMAT_VERSION
from wnn.network import StateError, UserWNN
from wnn.recommender import learn_user_event
from stream.schemas import (ForgetEvent, RatingEvent, drift_message, global_drift_message,
                            recommendation_message)

STATE_VERSION = 1


@dataclasses.dataclass
class UserState:
    """A user's network and drift monitor: one value of the ``user-wnn`` table."""

    wnn: UserWNN
    drift: UserDrift

    def to_bytes(self) -> bytes:
        return msgpack.packb({"v": STATE_VERSION, "wnn": self.wnn.to_bytes(), "drift": self.drift.to_bytes()},
                             use_bin_type=True)

    @staticmethod
    def _document(data: bytes) -> dict:
        try:
            doc = msgpack.unpackb(data, raw=False)
        except Exception as exc:
            raise StateError(f"user table value is not msgpack ({type(exc).__name__}: {exc})") from None
        if not isinstance(doc, dict) or doc.get("v") != STATE_VERSION:
            raise StateError(f"user table value has an unknown layout (expected version {STATE_VERSION})")
        return doc

    @classmethod
    def stored_items(cls, data: bytes) -> list:
        """The item ids of a stored user's pairs, oldest first, without rebuilding the network."""
        return UserWNN.stored_items(cls._document(data).get("wnn"))

    @classmethod
    def from_bytes(cls, data: bytes, space: ItemSpace) -> "UserState":
        doc = cls._document(data)
        try:
            monitor = UserDrift.from_bytes(doc["drift"])
        except (KeyError, ValueError) as exc:
            raise StateError(str(exc)) from None
        return cls(UserWNN.from_bytes(doc.get("wnn"), space), monitor)


@dataclasses.dataclass(frozen=True)
class Outputs:
    """What the agent writes for one input message."""

    state: bytes
    recommendation: bytes
    drift: bytes | None = None
    share_key: str | None = None
    share: bytes | None = None


@dataclasses.dataclass
class DriftWindow:
    """Global aggregates of the drift metrics since the last report."""

    started: float = dataclasses.field(default_factory=time.monotonic)
    events: int = 0
    abs_error: float = 0.0
    sq_error: float = 0.0
    drift_flags: int = 0
    users_drifting: set = dataclasses.field(default_factory=set)
    taste_shift: float = 0.0
    events_total: int = 0
    drift_flags_total: int = 0


class StreamProcessor:
    """Per-worker business logic. See the module docstring.

    Parameters
    ----------
    config
        WNN settings; every worker of a deployment must use equal ones (the state carries a fingerprint).
    top_n
        Length of each emitted recommendation list.
    cache_size
        Live user networks kept in memory.
    catalogue
        Optional dataset whose items' genres and years seed the item space (items are ids on the wire; without a
        catalogue they get empty content bits).
    worker
        Name used in global drift reports.
    """

    def __init__(self, config: WNNConfig | None = None, top_n: int = 10, cache_size: int = 4096,
                 catalogue: Dataset | None = None, worker: str = "worker") -> None:
        self.space = ItemSpace(config or WNNConfig())
        self.config = self.space.config
        self.top_n = top_n
        self.worker = worker
        self.cache: LRUCache = LRUCache(maxsize=cache_size)
        self.shares: dict[str, ItemPartial] = {}
        self.window = DriftWindow()
        if catalogue is not None:
            for index, key in enumerate(catalogue.item_ids):
                self.space.add_item(key, genres=catalogue.item_genres[index], year=int(catalogue.item_years[index]))

    # ------------------------------------------------------------------ users
    def user(self, user: str, stored: bytes | None) -> UserState:
        """The live state of a user: from the cache, else decoded from the table value, else new."""
        state = self.cache.get(user)
        if state is None:
            state = UserState.from_bytes(stored, self.space) if stored is not None else \
                UserState(UserWNN(self.space), UserDrift())
            self.cache[user] = state
        return state

    def forget_cache(self) -> None:
        """Drop every live network (on rebalance: the table is the truth for partitions that may have moved)."""
        self.cache.clear()

    def _recommend(self, user: str, state: UserState, cause: str, partition: int, offset: int,
                   event_time: int | None, event_id: int | None) -> bytes:
        items, scores = state.wnn.score(ts=event_time, k=self.top_n)
        return recommendation_message(user, [str(i) for i in items], scores.tolist(), MODEL_FORMAT_VERSION, cause,
                                      partition, offset, event_time, event_id, state.wnn.n_pairs)

    # ------------------------------------------------------------------ events
    def on_rating(self, event: RatingEvent, stored: bytes | None, partition: int, offset: int) -> Outputs:
        """Predict (for the drift metrics), learn, update the item share, refresh the list."""
        state = self.user(event.user, stored)
        model, space = state.wnn, self.space
        idx = space.index(event.item)
        share_key = share = drift = None
        if not model.knows(event.event_id):  # a redelivered rating changes nothing
            prediction = model.predict_index(idx)
            report = state.drift.update(prediction.rating - event.rating, space.genre_bits(idx))
            drift = drift_message(event.user, event.event_id, event.ts, prediction.rating, event.rating,
                                  report.drift, report.taste_shift, model.n_pairs)
            self._observe(event.user, report.abs_error, report.drift, report.taste_shift)
            centered = learn_user_event(model, idx, event.rating, event.ts, event.event_id)
            share_key = f"{event.item}@{partition}"
            old = self.shares.get(share_key)
            new = (old or ItemPartial.empty(self.config.collab_bits)).added(
                event.rating, space.projection_of(event.user, centered), event.ts, self.config.popularity_half_life_s)
            space.replace_partial(idx, old, new)
            self.shares[share_key] = new
            share = new.to_bytes()
        recommendation = self._recommend(event.user, state, "rating", partition, offset, event.ts, event.event_id)
        return Outputs(state.to_bytes(), recommendation, drift, share_key, share)

    def on_forget(self, event: ForgetEvent, stored: bytes | None, partition: int, offset: int) -> Outputs:
        """Remove the pair(s) from the user's network exactly and re-emit the list.

        The item's global aggregates (count, mean, code) keep the rating as an anonymous contribution; only the
        user's own memory, which is what personalises their list, forgets it.
        """
        state = self.user(event.user, stored)
        model = state.wnn
        if event.event_id is not None:
            targets: Iterable[int] = [event.event_id]
        else:
            targets = [p["event_id"] for p in model.pairs() if str(p["item"]) == event.item]
        for event_id in targets:
            model.forget(event_id)
        last_ts = model.pairs()[-1]["ts"] if model.n_pairs else None
        recommendation = self._recommend(event.user, state, "forget", partition, offset, last_ts, event.event_id)
        return Outputs(state.to_bytes(), recommendation)

    def on_share(self, key: str, value: bytes | None, owned_partitions: set[int]) -> bool:
        """Apply another worker's item share (from the item-stats global table). Returns whether it changed state.

        Shares of partitions this worker owns are its own writes coming back, and are ignored.
        """
        part = key.rpartition("@")[2]
        if not part.isdigit() or int(part) in owned_partitions:
            return False
        return self._apply_share(key, value)

    def load_shares(self, shares: Iterable[tuple[str, bytes | None]]) -> int:
        """Rebuild the item space from stored shares (all partitions, this worker's included) after a restart."""
        return sum(self._apply_share(key, value) for key, value in shares)

    def _apply_share(self, key: str, value: bytes | None) -> bool:
        """Swap in a share if it is newer (higher count) than the one held: late or repeated deliveries do no
        harm."""
        item = key.rpartition("@")[0]
        if value is None or not item:
            return False
        new = ItemPartial.from_bytes(value)
        old = self.shares.get(key)
        if old is not None and new.count <= old.count:
            return False
        self.space.replace_partial(self.space.index(item), old, new)
        self.shares[key] = new
        return True

    def rebuild_transitions(self, states: Iterable[tuple[bytes, bytes | None]]) -> int:
        """Recount the next-item signal from the stored sequences of the users this worker owns (after recovery).

        Transition counts are this worker's view: its own users' consecutive ratings. They are derived from the user
        table, so a restart or a rebalance rebuilds exactly what the owned partitions hold. Returns users counted.
        """
        space = self.space
        space.transitions[:] = 0.0
        space.transition_totals[:] = 0.0
        users = 0
        for _, value in states:
            if value is None:
                continue
            try:
                keys = UserState.stored_items(value)
            except StateError:
                continue  # a corrupt value is reported (DLQ) when its user's next event arrives
            space.add_sequence(np.array([space.index(k) for k in keys], dtype=np.int64))
            users += 1
        return users

    # ------------------------------------------------------------------ drift window
    def _observe(self, user: str, abs_error: float, drift: bool, taste_shift: float) -> None:
        w = self.window
        w.events += 1
        w.events_total += 1
        w.abs_error += abs_error
        w.sq_error += abs_error * abs_error
        w.taste_shift += taste_shift
        if drift:
            w.drift_flags += 1
            w.drift_flags_total += 1
            w.users_drifting.add(user)

    def global_report(self) -> bytes | None:
        """The global drift aggregates since the last call (None if no rating arrived), and a new window."""
        w = self.window
        if not w.events:
            return None
        report = {
            "worker": self.worker, "window_s": round(time.monotonic() - w.started, 3), "events": w.events,
            "mae": round(w.abs_error / w.events, 5), "rmse": round(math.sqrt(w.sq_error / w.events), 5),
            "drift_flags": w.drift_flags, "users_drifting": len(w.users_drifting),
            "mean_taste_shift": round(w.taste_shift / w.events, 5), "events_total": w.events_total,
            "drift_flags_total": w.drift_flags_total,
        }
        self.window = DriftWindow(events_total=w.events_total, drift_flags_total=w.drift_flags_total)
        return global_drift_message(report)
