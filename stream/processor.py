"""What a worker does with a micro-batch of input messages, as plain objects the Faust agent calls (no Kafka here).

:class:`StreamProcessor` owns the worker's :class:`~wnn.item_space.ItemSpace` replica, a byte-bounded LRU cache of
live user states (the RocksDB table is the durable copy), every partition's item-statistics shares (see
:mod:`wnn.item_stats`) and the global drift window. :meth:`StreamProcessor.process_batch` takes the messages of a
micro-batch and returns everything the agent must write:

* every rating is learned in arrival order, each predicted first for its drift record, so a batch leaves exactly the
  user states the same messages one by one would;
* per user per batch: one table write and one recommendation list (covering all of that user's inputs in the
  batch; with ``--list-messages partition`` the lists of each input partition travel together); per input
  partition per batch, one drift message with every new rating's record;
* per partition, once enough ratings changed them or the oldest change is old enough: the item-statistics buckets
  that changed, for the other workers (this worker's own item space is updated with every rating);
* a message that cannot be processed, for any reason, becomes a dead letter with the reason; the messages around it
  are processed. Every field is validated before any state changes.

Recovery is exact because the item shares are *derived*: each partition's shares are rebuilt from that partition's
stored user states (:meth:`StreamProcessor.recover`), never trusted from an earlier run. Forgotten event ids are kept
as bounded tombstones in the user's state, and an erased user keeps the highest event id they had, so no redelivery or
replay can bring a forgotten rating or an erased user back.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from cachetools import LRUCache

from stream.batch import BatchOutput, Incoming, Loader, Refused, TouchedUser, by_partition, list_message
from stream.catalogue import Titles, dataset_items, parse_item
from stream.contracts import ItemRecord, UserDrift
from stream.drift_window import DriftWindow
from stream.item_shares import PartitionShares, stored_shares
from stream.messages import (
    ForgetEvent,
    ForgetUserEvent,
    InputEvent,
    RatingEvent,
    SchemaError,
    covered_event,
    dead_letter_message,
    drift_messages,
    drift_record,
    global_drift_message,
    list_batch_messages,
    parse_input,
    user_drift,
)
from stream.settings import Settings
from stream.user_state import UserState
from wnn.config import WNNConfig
from wnn.contributions import forget_events, learn_run
from wnn.item_catalogue import Catalogue
from wnn.item_space import ItemSpace
from wnn.item_stats import ItemPartial, RatingRow
from wnn.network import StateError

log = logging.getLogger(__name__)


class StreamProcessor:
    """Per-worker business logic. See the module docstring.

    Parameters
    ----------
    settings
        The worker's settings (:class:`stream.settings.Settings`; from the environment when left out): the list
        length, the cache budget, share buckets, tombstones, the input size limit, list explanations, segment size,
        and the names of the worker and its topics.
    config
        WNN settings; every worker of a deployment must use equal ones (the state carries a fingerprint). Default:
        :meth:`stream.settings.Settings.wnn_config`.
    catalogue
        Optional dataset whose items' genres and years seed the item space, for runs without the ``items`` topic
        (a worker takes its catalogue from the topic, :meth:`on_item`; items without a description have empty
        content bits).
    """

    def __init__(
        self, settings: Settings | None = None, config: WNNConfig | None = None, catalogue: Catalogue | None = None
    ) -> None:
        self.settings = settings = settings or Settings()
        self.space = ItemSpace(config or settings.wnn_config())
        self.config = self.space.config
        #: user -> table keys no manifest names, found by recovery; the user's next write deletes them
        self.orphans: dict[str, list[bytes]] = {}
        self.cache: LRUCache[str, UserState] = LRUCache(
            maxsize=settings.cache_bytes, getsizeof=lambda state: state.memory_bytes
        )
        #: every partition's share of the item statistics (own and other workers' partitions)
        self.item_shares = PartitionShares(self.space, settings.share_buckets)
        self.owned: set[int] = set()
        self.window = DriftWindow()
        self.dead_letter_reasons: collections.Counter[str] = collections.Counter()
        self.forgets_applied = 0  # ratings forgotten
        self.users_erased = 0
        #: where each batch found the users it touched: ``cache``, ``table`` (read and decoded) or ``new``
        self.user_lookups: collections.Counter[str] = collections.Counter()
        #: item id -> its description from the catalogue (stream.catalogue), and the titles among them
        self.descriptions: dict[str, ItemRecord] = {}
        self.titles = Titles(self.descriptions)
        if catalogue is not None:
            self.add_catalogue(catalogue)

    # ------------------------------------------------------------------ users
    def _state(
        self, user: str, partition: int, load: Loader, touched: dict[str, TouchedUser], create: bool
    ) -> TouchedUser | None:
        """The user's live state in this batch: pinned while the batch runs, so the cache cannot evict it before
        it is written."""
        entry = touched.get(user)
        if entry is not None:
            return entry
        state = self.cache.get(user)
        if state is None:
            state = UserState.load(
                lambda key: load(key, partition), user.encode(), self.space, self.settings.tombstones_per_user
            )
            if state is None:
                if not create:
                    return None
                state = UserState.new(self.space, partition, self.settings.tombstones_per_user)
            self.user_lookups["table" if state.wnn.n_pairs or state.forgotten else "new"] += 1
            state.orphans += tuple(self.orphans.pop(user, ()))
        else:
            self.user_lookups["cache"] += 1
        entry = touched[user] = TouchedUser(state)
        return entry

    def user(self, user: str, get: Callable[[bytes], bytes | None]) -> UserState | None:
        """The live state of a user (cache, else read from the table with ``get``); None for an unknown user, or one
        erased with nothing learned since."""
        state = self.cache.get(user)
        if state is None:
            state = UserState.load(get, user.encode(), self.space, self.settings.tombstones_per_user)
        return None if state is None or state.gone else state

    def forget_cache(self) -> None:
        """Drop every live state (on rebalance: the table is the truth for partitions that may have moved)."""
        self.cache.clear()

    # ------------------------------------------------------------------ batches
    def process_batch(self, messages: Iterable[Incoming], load: Loader) -> BatchOutput:
        """Apply a micro-batch; return the writes. See the module docstring.

        Every message is decoded first; then each user's inputs are applied together, in their order, users in the
        order they first appear. A user's state is a function of their own inputs in order and of everyone's
        ratings as a set (see :mod:`wnn.network`), so this leaves the states and item statistics that processing
        the messages one by one leaves, while a user's network reads the item space once per batch instead of
        once per rating (the drift records' predictions see the other users' ratings of the batch a little
        earlier or later).
        """
        out = BatchOutput()
        touched: dict[str, TouchedUser] = {}
        by_user: dict[str, list[tuple[Incoming, InputEvent]]] = {}
        for message in messages:
            self.owned.add(message.partition)  # a worker only receives the partitions it owns
            try:
                event = parse_input(
                    message.value,
                    message.key,
                    message.partition,
                    message.offset,
                    max_bytes=self.settings.max_message_bytes,
                    require_key=True,
                    scale=self.space.config.rating_scale,
                )
            except SchemaError as exc:
                self._dead(out, message, str(exc), "schema")
                continue
            by_user.setdefault(event.user, []).append((message, event))
        for inputs in by_user.values():
            self._apply_user(inputs, load, touched, out)
        self._emit(touched, out)
        return out

    def _apply_user(
        self,
        inputs: list[tuple[Incoming, InputEvent]],
        load: Loader,
        touched: dict[str, TouchedUser],
        out: BatchOutput,
    ) -> None:
        """One user's inputs in their order: each run of new ratings learned together (:meth:`_learn_run`), any other
        input on its own (:meth:`_apply`)."""
        run: list[tuple[Incoming, RatingEvent]] = []
        for message, event in inputs:
            if isinstance(event, RatingEvent) and self._extends(run, message, event, load, touched):
                run.append((message, event))
                continue
            self._learn_run(run, touched, out)
            run = []
            self._apply(message, event, load, touched, out)
        self._learn_run(run, touched, out)

    def _extends(
        self, run: list[tuple[Incoming, RatingEvent]], message: Incoming, event: RatingEvent, load: Loader,
        touched: dict[str, TouchedUser],
    ) -> bool:  # fmt: skip
        """Whether a rating joins the user's run of new ratings: the user's state is at hand and lives on the
        message's partition, and the event id is above every id stored or in the run and was never forgotten (so
        it is new; anything else takes :meth:`_apply`, which says why)."""
        try:
            entry = self._state(event.user, message.partition, load, touched, create=True)
        except Exception:  # an unreadable state: _apply dead-letters the message with the reason
            return False
        assert entry is not None  # created for a rating
        state = entry.state
        newest = run[-1][1].event_id if run else state.wnn.pair_log.newest_id
        new = event.event_id > newest and not state.forgot(event.event_id)
        return new and state.partition == message.partition

    def _learn_run(
        self, run: list[tuple[Incoming, RatingEvent]], touched: dict[str, TouchedUser], out: BatchOutput
    ) -> None:
        """Predict (for the drift records) and learn a run of one user's new ratings in one call
        (:func:`wnn.contributions.learn_run`), and update their partition's item shares. After a failure (a bug),
        the ratings of the run it had not learned yet are tried one by one, so it costs the message that fails."""
        if not run:
            return
        user, partition = run[0][1].user, run[0][0].partition
        entry = touched[user]
        space, model = self.space, entry.state.wnn
        events = [event for _, event in run]
        try:
            indices = np.array([space.index(event.item) for event in events], dtype=np.int64)
            ratings = np.array([event.rating for event in events], dtype=np.float64)
            stamps = np.array([event.ts for event in events], dtype=np.int64)
            learned = learn_run(
                space, user, model, indices, ratings, stamps, np.array([e.event_id for e in events], dtype=np.int64)
            )
        except Exception as exc:
            if len(run) > 1:
                log.exception("internal error on a run of %d ratings of %r: trying them one by one", len(run), user)
                for message, event in run:
                    if model.knows(event.event_id):  # learned before the failure
                        entry.events.append(covered_event(event.event_id, message.offset, "rating"))
                        entry.changed = True
                    else:
                        self._learn_run([(message, event)], touched, out)
                return
            message = run[0][0]
            log.exception("internal error on %s[%d]@%d", self.settings.ratings_topic, message.partition, message.offset)
            self._dead(out, message, f"internal error ({type(exc).__name__}: {exc})", "internal")
            return
        columns = (
            run, indices.tolist(), ratings.astype(np.float32).tolist(), learned.centred.tolist(), stamps.tolist(),
            learned.predictions.tolist(), learned.restarted.tolist(), learned.pairs_before.tolist(),
        )  # fmt: skip
        unfolded, records, covered = self.item_shares.unfolded[partition], entry.records, entry.events
        for k, ((message, event), index, value, centred, ts, prediction, restarted, before) in enumerate(zip(*columns)):
            # The item space took the rating; the partition's share takes it when it is next needed.
            unfolded.append(RatingRow(index, value, centred, user, ts))
            if learned.changes and k in learned.changes:
                # The size limit evicted old pairs: their contributions left the space (and the pending ratings
                # were folded into the share first).
                self.item_shares.mirror(partition, learned.changes[k])
                unfolded = self.item_shares.unfolded[partition]
            # Drift at this rating: learning it restarted the network's taste window (wnn.taste_change).
            records.append(drift_record(event.event_id, ts, prediction, event.rating, restarted, before))
            self.window.observe(user, abs(prediction - event.rating), restarted)
            covered.append(covered_event(event.event_id, message.offset, "rating"))
        entry.event_time = events[-1].ts
        entry.changed = True
        out.applied += len(run)

    def _apply(
        self,
        message: Incoming,
        event: InputEvent,
        load: Loader,
        touched: dict[str, TouchedUser],
        out: BatchOutput,
    ) -> None:
        """One decoded input: learn or forget it, or dead-letter it with the reason (the worker carries on)."""
        try:
            entry = self._state(event.user, message.partition, load, touched, create=isinstance(event, RatingEvent))
            if entry is None:
                raise Refused(f"forget for unknown user {event.user!r}: nothing is stored for them")
            if entry.state.partition != message.partition:
                raise Refused(
                    f"user {event.user!r} lives on partition {entry.state.partition}, but this message "
                    f"came on partition {message.partition} (was it produced with another key or "
                    "partitioner?)"
                )
            if isinstance(event, RatingEvent) and not self._redelivered(event, entry, message):
                self._learn_run([(message, event)], touched, out)
                return
            if isinstance(event, ForgetUserEvent):
                applied = self._forget_user(event, entry, message)
            else:
                applied = isinstance(event, ForgetEvent) and self._forget(event, entry, message)
            out.applied += applied
            out.duplicates += not applied
        except StateError as exc:
            self._dead(out, message, f"stored user state unusable: {exc}", "state")
        except Refused as exc:
            self._dead(out, message, str(exc), "refused")
        except Exception as exc:  # a bug must cost one message, never the worker
            log.exception("internal error on %s[%d]@%d", self.settings.ratings_topic, message.partition, message.offset)
            self._dead(out, message, f"internal error ({type(exc).__name__}: {exc})", "internal")

    def _dead(self, out: BatchOutput, message: Incoming, reason: str, kind: str) -> None:
        self.dead_letter_reasons[kind] += 1
        letter = dead_letter_message(
            message.value, reason, message.partition, message.offset, message.key, self.settings.ratings_topic
        )
        out.dead_letters.append((message.key, letter))

    def _redelivered(self, event: RatingEvent, entry: TouchedUser, message: Incoming) -> bool:
        """Whether a rating that did not join a run was learned (or forgotten) before: then it changes nothing."""
        state = entry.state
        if not state.knows(event.event_id):
            return False
        entry.events.append(covered_event(event.event_id, message.offset, "rating", duplicate=True))
        # A redelivery means the last run stopped before its offsets were committed, maybe before the table's
        # changelog got the state the local store already has: write it again so the changelog catches up.
        entry.rewrite = True
        return True

    def _forget(self, event: ForgetEvent, entry: TouchedUser, message: Incoming) -> bool:
        """Remove the pair(s) exactly, remember their ids, and take back everything they added to the partition's
        item statistics and the next-item counts. False for a repeated forget."""
        state = entry.state
        model = state.wnn
        if event.event_id is not None:
            # A tombstoned id is a repeated forget, unless its pair is still stored: a crash came after the forget's
            # tombstones were written and before its manifest (stream.user_layout), so the forget is applied now.
            if event.event_id in state.forgotten and not model.knows(event.event_id):
                entry.events.append(covered_event(event.event_id, message.offset, "forget", duplicate=True))
                entry.rewrite = True  # as for a redelivered rating: let the changelog catch up
                return False
            if not model.knows(event.event_id):
                raise Refused(f"forget: user {event.user!r} has no stored rating with event_id {event.event_id}")
            targets = [event.event_id]
        else:
            targets = [p["event_id"] for p in model.pairs() if str(p["item"]) == event.item]
            if not targets:
                raise Refused(f"forget: user {event.user!r} has no stored rating of item {event.item!r}")
        change = forget_events(self.space, event.user, model, targets)
        state.remember_forgotten(targets)
        self.forgets_applied += len(targets)
        self.item_shares.mirror(message.partition, change)
        for event_id in targets:
            entry.events.append(covered_event(event_id, message.offset, "forget"))
        entry.changed = True
        return True

    def _forget_user(self, event: ForgetUserEvent, entry: TouchedUser, message: Incoming) -> bool:
        """Erase the user: forget every stored pair exactly (as :meth:`_forget` does one), then record the erasure
        (:meth:`stream.user_state.UserState.erase`). False for an erasure applied before (a redelivery)."""
        state = entry.state
        if state.erasure is not None and event.erase_id <= state.erasure.erase_id:
            entry.events.append(covered_event(None, message.offset, "forget", duplicate=True))
            entry.rewrite = True  # as for a redelivered rating: let the changelog catch up
            return False
        targets = state.wnn.pair_log.event_ids.tolist()
        if targets:
            self.item_shares.mirror(message.partition, forget_events(self.space, event.user, state.wnn, targets))
        state.erase(event.erase_id, targets)
        self.forgets_applied += len(targets)
        self.users_erased += 1
        entry.events.extend(covered_event(event_id, message.offset, "forget") for event_id in targets)
        if not targets:
            entry.events.append(covered_event(None, message.offset, "forget"))
        entry.changed = True
        return True

    def _emit(self, touched: dict[str, TouchedUser], out: BatchOutput) -> None:
        """One state write and one list per touched user (the lists of each input partition together with
        ``--list-messages partition``); the drift records of each input partition together."""
        lists_together = self.settings.list_messages == "partition"
        lists: dict[int, list[bytes]] = {}
        drift: dict[int, list[UserDrift]] = {}
        for user, entry in touched.items():
            state = entry.state
            if not entry.events:  # only refused inputs: nothing to write or emit
                continue
            key = user.encode()
            if entry.changed or entry.rewrite:
                out.states.extend(
                    (state.partition, k, v)
                    for k, v in state.writes(key, rewrite=entry.rewrite, segment_pairs=self.settings.segment_pairs)
                )
            with contextlib.suppress(ValueError):  # larger than the whole cache budget: served from the table next time
                self.cache[user] = state
            value = list_message(user, entry, self.settings)
            out.lists += 1
            if lists_together:
                lists.setdefault(state.partition, []).append(value)
            else:
                out.recommendations.append((key, value))
            if entry.records:
                shift = state.wnn.taste_shift()
                self.window.observe_taste_shift(shift)
                drift.setdefault(state.partition, []).append(user_drift(user, entry.records, shift))
        out.recommendations.extend(by_partition(lists, list_batch_messages))
        out.drift.extend(by_partition(drift, drift_messages))

    # ------------------------------------------------------------------ item statistics
    def pending_shares(self, now: float | None = None) -> list[tuple[int, bytes, bytes]]:
        """The changed buckets of the partitions this worker owns, ``(partition, key, value)`` each, for the other
        workers: all, or at time ``now`` (a monotonic clock's seconds) those of the partitions whose changes are due
        (:meth:`stream.item_shares.PartitionShares.due`, with the ``share_publish_*`` settings). Shares are derived
        state: buckets not published when a worker stops are not lost; the next owner re-derives and republishes."""
        shares, settings = self.item_shares, self.settings
        if now is None:
            return shares.pending(self.owned)
        due = shares.due(self.owned, settings.share_publish_ratings, settings.share_publish_max_age_s, now)
        return shares.pending(due)

    def add_catalogue(self, dataset: Catalogue) -> None:
        """Describe every item of ``dataset``, through the same path as the ``items`` topic's messages."""
        for key, value in dataset_items(dataset):
            self.on_item(key, value)

    def on_item(self, key: bytes | None, value: bytes | None, partition: int = 0, offset: int = 0) -> bytes | None:
        """Apply one message of the ``items`` topic (:mod:`stream.catalogue`) to the item space: a description sets
        the item's content bits and title, a tombstone withdraws it from every list. Returns the dead letter if the
        message was refused, with nothing changed; None otherwise. Applying a message again changes nothing.
        """
        try:
            record = parse_item(value, key)
        except SchemaError as exc:
            self.dead_letter_reasons["item"] += 1
            return dead_letter_message(value, str(exc), partition, offset, key, self.settings.items_topic)
        assert key is not None  # parse_item refuses a message without one
        item = key.decode("utf-8")
        if record is None:
            self.space.withdraw(item)
            self.descriptions.pop(item, None)
        else:
            self.space.add_item(item, genres=record.genres, year=record.year, attributes=record.attributes)
            self.descriptions[item] = record
        return None

    def on_share(self, key: bytes | str, value: bytes | None) -> bool:
        """Apply another worker's bucket of item shares (from the item-stats global table).

        Buckets of partitions this worker owns are derived here from its own users, and are ignored. Returns
        whether the item space changed.
        """
        return self.item_shares.apply_message(key, value, self.owned)

    def derived_shares(self, stored: Iterable[tuple[bytes, bytes | None]]) -> dict[int, dict[int, ItemPartial]]:
        """What :meth:`recover` derives for every partition (for audits and tests; changes nothing)."""
        return stored_shares(self.space, stored, count_sequences=False)[0]

    def recover(self, owned: Iterable[int], stored: Iterable[tuple[bytes, bytes | None]]) -> dict[str, Any]:
        """Re-derive, from the stored user states, the item shares of the partitions this worker owns and the
        next-item counts, after a restart or rebalance. Every bucket of an owned partition is republished
        (:meth:`pending_shares`), so other workers converge on the derived shares too. Returns counts for the log.
        """
        self.owned = set(owned)
        self.forget_cache()
        self.space.next_items.clear()
        for partition in self.owned:
            self.item_shares.fold(partition)  # the space holds them; the derived shares replace them below
        self.orphans = {}
        derived, users, unreadable = stored_shares(self.space, stored, count_sequences=True, orphans=self.orphans)
        for partition in self.owned:
            self.item_shares.replace(partition, derived.get(partition, {}))
        return {"users": users, "unreadable": unreadable, "partitions": sorted(self.owned)}

    # ------------------------------------------------------------------ drift window
    def global_report(self) -> bytes | None:
        """The global drift aggregates since the last call (None if no rating arrived), and a new window."""
        if not self.window.events:
            return None
        report, self.window = self.window.report(self.settings.app_id)
        return global_drift_message(report)
