"""Each ratings partition's share of the global item statistics, as this worker holds and publishes them.

Every worker holds the shares of every partition: its own (derived from its users, published for the others) and the
other workers' (read from the ``item-stats`` global table). The item space is their sum. A partition's share is kept
in buckets (by a stable hash of the item id) so that a change publishes one bucket, not the partition's every item.
A partition's changed buckets are published once enough ratings changed them, or once the oldest change is old
enough (:meth:`PartitionShares.due`), so the bytes published follow the statistics that changed, not the clock.

Each rating already moved the item space directly (:func:`wnn.contributions.learn_event`, the same path as the
in-process recommender); its partition's share is only needed to publish it or to take a rating back, so the ratings
learned since are folded into the share per item when it is next needed, not rating by rating (exact sums: the
order does not matter).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from collections.abc import Hashable, Iterable, Mapping

import numpy as np

from stream.user_state import read_stored
from wnn.item_space import ItemSpace, stable_hash
from wnn.item_stats import ContributionChange, Contributions, ItemPartial, RatingRow, ShareBucket
from wnn.pairs import PairLog
from wnn.residuals import centred_ratings
from wnn.state_format import StateError

log = logging.getLogger(__name__)


class PartitionShares:
    """Every partition's item shares, the buckets changed since they were last published, and the ratings learned
    since each partition's share was last brought up to date."""

    def __init__(self, space: ItemSpace, buckets: int) -> None:
        self.space = space
        self.buckets = buckets
        #: partition -> dense item index -> that partition's share of the item
        self.shares: dict[int, dict[int, ItemPartial]] = collections.defaultdict(dict)
        #: partition -> the buckets changed since they were last published
        self.dirty: dict[int, set[int]] = collections.defaultdict(set)
        #: partition -> ratings learned since its share was last brought up to date (see :meth:`fold`)
        self.unfolded: dict[int, list[RatingRow]] = collections.defaultdict(list)
        #: partition -> folded ratings and mirrored changes since its buckets were last published
        self.changes: collections.Counter[int] = collections.Counter()
        #: partition -> when :meth:`due` first saw it changed since it was last published
        self.changed_since: dict[int, float] = {}
        #: partitions whose every bucket is to be published at once (re-derived by recovery)
        self.republish: set[int] = set()
        self._bucket_of: dict[int, int] = {}

    def bucket(self, idx: int) -> int:
        """The bucket of dense item index ``idx``."""
        bucket = self._bucket_of.get(idx)
        if bucket is None:
            bucket = self._bucket_of[idx] = stable_hash(self.space.key(idx)) % self.buckets
        return bucket

    def put(self, partition: int, idx: int, new: ItemPartial) -> None:
        """Replace a partition's share of an item, in the item space too."""
        shares = self.shares[partition]
        self.space.replace_partial(idx, shares.get(idx), new)
        if new.count:
            shares[idx] = new
        else:
            shares.pop(idx, None)
        self.dirty[partition].add(self.bucket(idx))

    def fold(self, partition: int) -> None:
        """Bring a partition's share up to date with the ratings learned since the last fold."""
        pending = self.unfolded.pop(partition, None)
        if not pending:
            return
        delta = self.space.rating_contributions(pending).shares()
        self.changes[partition] += len(pending)
        shares, dirty = self.shares[partition], self.dirty[partition]
        for idx, added in delta.items():
            shares[idx] = shares[idx] + added if idx in shares else added
            dirty.add(self.bucket(idx))

    def mirror(self, partition: int, change: ContributionChange) -> None:
        """Mirror a user's contribution change (already applied to the item space by :mod:`wnn.contributions`) on
        the partition's share: take back ``before``, add ``after`` (exactly)."""
        self.fold(partition)
        self.changes[partition] += 1
        shares, dirty = self.shares[partition], self.dirty[partition]
        deltas = change.deltas  # only the items whose share moved
        empty = ItemPartial.empty(self.space.config.collab_bits)
        for k, idx in enumerate(deltas.items.tolist()):
            share = shares.get(idx, empty) + deltas.partial(k)
            if share.count:
                shares[idx] = share
            else:
                shares.pop(idx, None)
            dirty.add(self.bucket(idx))

    def due(self, owned: Iterable[int], min_changes: int, max_age_s: float, now: float) -> list[int]:
        """The ``owned`` partitions whose changed buckets are due for publication at time ``now`` (seconds, any
        monotonic clock): at least ``min_changes`` ratings or forgets changed them since they were last published,
        or the oldest of those changes was first seen here ``max_age_s`` ago, or recovery re-derived them."""
        due = []
        for partition in owned:
            changes = self.changes[partition] + len(self.unfolded.get(partition, ()))
            if not changes and partition not in self.republish:
                self.changed_since.pop(partition, None)
                continue
            since = self.changed_since.setdefault(partition, now)
            if partition in self.republish or changes >= min_changes or now - since >= max_age_s:
                due.append(partition)
        return due

    def pending(self, partitions: Iterable[int]) -> list[tuple[int, bytes, bytes]]:
        """The changed buckets of ``partitions``, one ``(partition, key, value)`` each; none of theirs is pending
        after. Every partition's ratings are folded into its share first (a partition this worker no longer owns
        too: the share another worker publishes for it replaces all of it)."""
        for partition in list(self.unfolded):
            self.fold(partition)
        chosen = set(partitions)
        for partition in chosen:
            self.changes.pop(partition, None)
            self.changed_since.pop(partition, None)
            self.republish.discard(partition)
        pending = []
        for partition in [p for p in self.dirty if p in chosen]:  # in the order they changed
            buckets = self.dirty.pop(partition)
            by_bucket: dict[int, dict[Hashable, ItemPartial]] = {b: {} for b in buckets}
            for idx, share in self.shares[partition].items():
                bucket = self.bucket(idx)
                if bucket in by_bucket:
                    by_bucket[bucket][self.space.key(idx)] = share
            for bucket, shares in by_bucket.items():
                pending.append((partition, share_key(partition, bucket), ShareBucket(shares).to_bytes()))
        return pending

    def apply_message(self, key: bytes | str, value: bytes | None, owned: set[int]) -> bool:
        """Apply an item-stats message (another worker's bucket); whether the item space changed. Buckets of the
        ``owned`` partitions are derived here from this worker's own users, and are ignored, as is a bucket that
        does not decode (with a warning)."""
        parsed = parse_share_key(key)
        if parsed is None or value is None or parsed[0] in owned:
            return False
        try:
            incoming = ShareBucket.from_bytes(value).shares
        except ValueError as exc:
            log.warning("ignoring item-stats bucket %r: %s", key, exc)
            return False
        self.apply_bucket(*parsed, incoming)
        return True

    def apply_bucket(self, partition: int, bucket: int, incoming: Mapping[Hashable, ItemPartial]) -> None:
        """Another worker's bucket of a partition's shares, replacing what this worker held of that bucket."""
        empty = ItemPartial.empty(self.space.config.collab_bits)
        known = {idx for idx in self.shares[partition] if self.bucket(idx) == bucket}
        fresh = {self.space.index(item): share for item, share in incoming.items()}
        for idx in known | set(fresh):
            self.put(partition, idx, fresh.get(idx, empty))
        self.dirty.pop(partition, None)

    def replace(self, partition: int, fresh: dict[int, ItemPartial]) -> None:
        """A partition's whole share replaced by ``fresh`` (derived from its users), every bucket to publish."""
        self.fold(partition)  # the space holds those ratings; the derived share replaces them
        empty = ItemPartial.empty(self.space.config.collab_bits)
        for idx in set(self.shares[partition]) | set(fresh):
            self.put(partition, idx, fresh.get(idx, empty))
        self.dirty[partition] = set(range(self.buckets))
        self.republish.add(partition)


def stored_shares(
    space: ItemSpace,
    stored: Iterable[tuple[bytes, bytes | None]],
    count_sequences: bool,
    orphans: dict[str, list[bytes]] | None = None,
) -> tuple[dict[int, dict[int, ItemPartial]], int, int]:
    """Every partition's item shares derived from the stored users (a table's ``(key, value)`` pairs, each user's
    keys together: :func:`stream.user_state.read_stored`), the users read and the unreadable ones; with
    ``count_sequences`` also re-count the next-item signal from the users' sequences; ``orphans`` collects the keys
    no manifest names, by user."""
    cfg = space.config
    runs: dict[int, PartitionRuns] = collections.defaultdict(PartitionRuns)
    users = unreadable = 0
    for user_key, user_stored, orphan_keys in read_stored(stored, space):
        try:
            user = user_key.decode()
        except UnicodeDecodeError:
            unreadable += 1
            continue
        if orphans is not None and orphan_keys:
            orphans[user] = orphan_keys
        if user_stored is None:
            continue
        if isinstance(user_stored, StateError):
            unreadable += 1  # a corrupt value is reported (DLQ) when its user's next event arrives
            continue
        pairs = user_stored.pairs
        if count_sequences:
            space.next_items.add_sequence(pairs.items)
        runs[user_stored.partition].add(user, pairs, centred_ratings(pairs.ratings, cfg.user_prior, cfg.prior_mean))
        users += 1
    derived = {p: part.contributions(space).shares() for p, part in runs.items()}
    return derived, users, unreadable


@dataclasses.dataclass
class PartitionRuns:
    """The stored users of one partition, gathered for :func:`stored_shares`: their pairs' columns, each user's run
    after the one before, so that their contributions are computed in one call, not one per user."""

    users: list[str] = dataclasses.field(default_factory=list)
    counts: list[int] = dataclasses.field(default_factory=list)
    columns: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = dataclasses.field(default_factory=list)

    def add(self, user: str, pairs: PairLog, centred: np.ndarray) -> None:
        # Copies: a user's columns are views of the pair arena, reused once the user's pairs are dropped.
        self.users.append(user)
        self.counts.append(pairs.n)
        self.columns.append((pairs.items.copy(), pairs.ratings.copy(), pairs.ts.copy(), centred))

    def contributions(self, space: ItemSpace) -> Contributions:
        items, ratings, stamps, centred = (np.concatenate(column) for column in zip(*self.columns))
        return space.runs_contributions(self.users, self.counts, items, ratings, stamps, centred)


def share_key(partition: int, bucket: int) -> bytes:
    """Key of one bucket of a partition's item shares in the item-stats table."""
    return f"{partition}:{bucket}".encode()


def parse_share_key(key: bytes | str) -> tuple[int, int] | None:
    """The ``(partition, bucket)`` of an item-stats key; None for a key that is not one."""
    text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    partition, _, bucket = text.partition(":")
    if not (partition.isdigit() and bucket.isdigit()):
        return None
    return int(partition), int(bucket)
