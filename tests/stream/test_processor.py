import json

import numpy as np
import pytest

from stream.batch import Incoming
from stream.item_shares import parse_share_key
from stream.messages import forget_message, forget_user_message, implicit_message, lists_of, rating_message
from stream.processor import StreamProcessor
from stream.settings import Settings
from stream.user_layout import ERASED_MANIFEST_VERSION, MANIFEST_VERSION, tombstones_key
from stream.user_state import UserState
from tests.conftest import synthetic_dataset
from wnn.item_stats import ShareBucket
from wnn.pairs import ARENA
from wnn.state_format import load_document


def catalogue():
    return synthetic_dataset(n_users=4, n_items=20, n_ratings=10)


class Table:
    """The user table as the agent presents it to the processor: key -> bytes, written from the batch output."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.reads = 0

    def load(self, key: bytes, partition: int):
        self.reads += 1
        return self.data.get(key)

    def run(self, processor: StreamProcessor, messages: list[Incoming]):
        out = processor.process_batch(messages, self.load)
        for _, key, value in out.states:
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value
        return out

    def items(self):
        """In key order, as RocksDB reads a partition (each user's keys together)."""
        return sorted(self.data.items())

    def user(self, processor: StreamProcessor, user: bytes) -> UserState:
        return UserState.load(self.data.get, user, processor.space, processor.settings.tombstones_per_user)

    def users(self, processor: StreamProcessor) -> dict[bytes, tuple[bytes, list[int]]]:
        """Every stored user as read back: the network's canonical bytes and the tombstones (the segments' keys
        depend on how batches fell; what they hold does not)."""
        return {
            key: (state.wnn.to_bytes(), list(state.forgotten))
            for key in self.data
            if b"\x00" not in key
            for state in [self.user(processor, key)]
        }


def rating(user, item, value, t, partition=0, offset=None, key=None):
    return Incoming(
        user.encode() if key is None else key,
        rating_message(user, item, value, t, event_id=t),
        partition,
        t if offset is None else offset,
    )


def forget(user, event_id=None, item=None, partition=0, offset=0):
    return Incoming(user.encode(), forget_message(user, event_id=event_id, item=item), partition, offset)


def forget_user(user, partition=0, offset=0):
    return Incoming(user.encode(), forget_user_message(user), partition, offset)


def msgpack_version(sealed: bytes) -> int:
    return load_document(sealed, (ERASED_MANIFEST_VERSION, MANIFEST_VERSION), None, "manifest")["v"]


def docs(pairs):
    return [json.loads(value) for _, value in pairs]


def drift_of_users(out):
    """Each user's part of a batch's drift messages, in order."""
    return [user for doc in docs(out.drift) for user in doc["users"]]


def test_rating_emits_a_list_without_rated_items_and_a_drift_message():
    p, table = StreamProcessor(Settings(top_n=5), catalogue=catalogue()), Table()
    out = table.run(p, [rating("u", "3", 5.0, 1)])
    [rec] = docs(out.recommendations)
    assert rec["user"] == "u" and len(rec["items"]) == 5 and "3" not in {i["item"] for i in rec["items"]}
    assert rec["events"] == [{"event_id": 1, "offset": 1, "cause": "rating"}] and rec["n_ratings"] == 1
    [drift] = drift_of_users(out)
    assert drift["records"][0]["n_ratings"] == 0 and drift["records"][0]["rating"] == 5.0
    assert [key for _, key, _ in out.states] == [b"u"]  # the manifest, with the new pair in its tail
    assert not out.dead_letters and p.pending_shares()


def test_a_batch_gives_one_write_and_list_per_user_one_drift_message_per_partition_and_the_states_of_one_by_one():
    stream = [
        rating(u, str(i), float(1 + (i * 7 + len(u)) % 5), t)
        for t, (u, i) in enumerate([("a", 1), ("b", 2), ("a", 3), ("a", 4), ("b", 5), ("c", 6), ("a", 7)])
    ]
    batched, one_by_one = StreamProcessor(catalogue=catalogue()), StreamProcessor(catalogue=catalogue())
    table_b, table_1 = Table(), Table()
    out = table_b.run(batched, stream)
    for message in stream:
        table_1.run(one_by_one, [message])
    manifests = [key for _, key, _ in out.states if b"\x00" not in key]
    assert len(manifests) == 3 and len(out.recommendations) == 3 and [key for key, _ in out.drift] == [b"0"]
    lists = {d["user"]: d for d in docs(out.recommendations)}
    assert [e["event_id"] for e in lists["a"]["events"]] == [0, 2, 3, 6]
    assert [(d["user"], len(d["records"])) for d in drift_of_users(out)] == [("a", 4), ("b", 2), ("c", 1)]
    assert table_b.users(batched) == table_1.users(one_by_one)  # learning order is arrival order: identical users
    assert np.array_equal(batched.space.counts, one_by_one.space.counts)
    assert np.array_equal(batched.space.stats.projections, one_by_one.space.stats.projections)


def test_list_messages_by_partition_carry_the_same_lists_as_one_message_per_user():
    stream = [
        rating(u, str(i), 4.0, t, partition=p) for t, (u, i, p) in enumerate([("a", 1, 0), ("b", 2, 1), ("c", 3, 0)])
    ]
    per_user, per_partition = (
        StreamProcessor(catalogue=catalogue()),
        StreamProcessor(Settings(list_messages="partition"), catalogue=catalogue()),
    )
    lists = docs(Table().run(per_user, stream).recommendations)
    out = Table().run(per_partition, stream)
    assert [key for key, _ in out.recommendations] == [b"0", b"1"] and out.lists == 3
    batches = docs(out.recommendations)
    assert [(d["kind"], d["partition"], [entry["user"] for entry in d["lists"]]) for d in batches] == [
        ("batch", 0, ["a", "c"]),
        ("batch", 1, ["b"]),
    ]
    assert sorted((entry for d in batches for entry in lists_of(d)), key=lambda d: d["user"]) == lists


def test_state_round_trips_through_the_table_value():
    p, table = StreamProcessor(catalogue=catalogue()), Table()
    table.run(p, [rating("u", str(t), 4.0, t) for t in range(6)])
    p.forget_cache()
    state = table.user(p, b"u")
    assert state.wnn.n_pairs == 6 and state.partition == 0


def test_a_version_3_table_value_with_its_stored_drift_detector_still_loads():
    import msgpack

    from wnn import user_codec
    from wnn.state_format import seal

    p, table = StreamProcessor(catalogue=catalogue()), Table()
    table.run(p, [rating("u", str(t), 4.0, t) for t in range(6)])
    pairs = table.user(p, b"u").wnn.pair_log
    old = seal(
        msgpack.packb(
            {
                "v": 3,
                "p": 0,
                "wnn": user_codec.encode(pairs, p.config.fingerprint()),
                "forgotten": np.array([99], dtype=np.int64).tobytes(),
                "drift": b"a River detector, now derived",
            },
            use_bin_type=True,
        )
    )
    legacy, fresh = Table(), StreamProcessor(catalogue=catalogue())
    legacy.data[b"u"] = old
    state = legacy.user(fresh, b"u")
    assert state.wnn.n_pairs == 6 and list(state.forgotten) == [99] and state.layout is None
    legacy.run(fresh, [rating("u", "7", 3.0, 7)])  # the next write lays the user out anew
    assert legacy.user(fresh, b"u").wnn.n_pairs == 7 and list(legacy.user(fresh, b"u").forgotten) == [99]
    assert sorted(legacy.data) == [b"u", b"u\x00t"]  # seven pairs ride in the manifest's tail


def test_a_taste_flip_raises_the_drift_flag_at_the_rating_that_restarted_the_window():
    p, table = StreamProcessor(catalogue=catalogue()), Table()
    table.run(p, [rating("u", str(t % 20), 5.0, t) for t in range(40)])
    out = table.run(p, [rating("u", str(t % 20), 1.0, t) for t in range(40, 50)])
    [drift] = drift_of_users(out)
    flags = [r["drift"] for r in drift["records"]]
    assert flags.count(True) == 1 and not any(flags[:1])
    assert p.user("u", table.data.get).wnn.window_start > 0


def test_redelivered_rating_changes_nothing_and_is_marked_as_duplicate():
    p, table = StreamProcessor(catalogue=catalogue()), Table()
    table.run(p, [rating("u", "3", 5.0, 1)])
    before = dict(table.data)
    assert p.pending_shares()
    out = table.run(p, [rating("u", "3", 5.0, 1)])
    assert out.duplicates == 1 and not out.drift and not p.pending_shares()
    # the unchanged state is written again, so a changelog that missed the first write catches up
    assert {key: value for _, key, value in out.states} == before
    assert docs(out.recommendations)[0]["events"][0]["duplicate"] is True
    assert table.data == before and p.space.counts[p.space.index("3")] == 1


def test_forget_takes_the_rating_out_of_everything_and_a_replay_cannot_bring_it_back():
    p, table = StreamProcessor(catalogue=catalogue()), Table()
    stream = [rating("u", "3", 1.0, 1), rating("u", "4", 5.0, 2), rating("u", "5", 2.0, 3), rating("v", "3", 4.0, 4)]
    table.run(p, stream)
    never = StreamProcessor(catalogue=catalogue())
    Table().run(never, [m for m in stream if m.offset != 1])
    out = table.run(p, [forget("u", event_id=1, offset=9)])
    [rec] = docs(out.recommendations)
    assert rec["events"] == [{"event_id": 1, "offset": 9, "cause": "forget"}] and rec["n_ratings"] == 2
    three = p.space.index("3")
    assert p.space.counts[three] == 1 and p.space.sums[three] == 4.0
    # every item's statistics equal those of a processor that never saw the rating, and what the stored users derive
    for item in ("3", "4", "5"):
        assert p.space.statistics(p.space.index(item)) == never.space.statistics(never.space.index(item))
    derived = p.derived_shares(table.items())[0]
    assert derived == p.item_shares.shares[0]
    assert p.space.next_items.n_pairs == 1 and p.space.next_items.total(p.space.index("4")) == 1  # u: 4 -> 5 only
    replayed = table.run(p, stream)
    assert replayed.duplicates == 4 and replayed.applied == 0 and p.space.counts[three] == 1
    again = table.run(p, [forget("u", event_id=1, offset=10)])
    assert again.duplicates == 1 and not again.dead_letters


def test_forget_user_erases_every_rating_exactly_and_neither_a_redelivery_nor_a_replay_brings_the_user_back():
    p, table = StreamProcessor(catalogue=catalogue()), Table()
    stream = [rating("u", "3", 1.0, 1), rating("v", "3", 4.0, 2), rating("u", "4", 5.0, 3), rating("u", "5", 2.0, 4)]
    table.run(p, stream + [forget("u", event_id=4, offset=5)])  # u has a tombstone too
    assert tombstones_key(b"u") in table.data
    never = StreamProcessor(catalogue=catalogue())
    Table().run(never, [m for m in stream if m.key != b"u"])
    erase = forget_user("u", offset=6)
    out = table.run(p, [erase])
    [rec] = docs(out.recommendations)
    assert [(e["event_id"], e["cause"]) for e in rec["events"]] == [(1, "forget"), (3, "forget")]
    assert rec["n_ratings"] == 0 and len(rec["items"]) == p.settings.top_n  # the list of a user with no ratings
    for item in ("3", "4", "5"):
        assert p.space.statistics(p.space.index(item)) == never.space.statistics(never.space.index(item))
    assert p.space.next_items.n_pairs == 0 and p.derived_shares(table.items())[0] == p.item_shares.shares[0]
    # What is left of u: a manifest without pairs or tombstones that records the erasure; u reads as unknown.
    assert sorted(k for k in table.data if k.startswith(b"u")) == [b"u"]
    stored = table.user(p, b"u")
    assert stored.erasure is not None and stored.erasure.through == 4 and not stored.wnn.n_pairs
    assert p.user("u", table.data.get) is None and p.users_erased == 1 and p.forgets_applied == 3
    # A redelivered erasure, a replay of u's ratings and a rating of u that was never seen but is older: nothing.
    replayed = table.run(p, [erase, *stream, rating("u", "6", 3.0, 2, offset=7)])
    assert replayed.applied == 0 and replayed.duplicates == 6 and not replayed.dead_letters
    assert p.user("u", table.data.get) is None and p.users_erased == 1
    # A new rating is learned: u comes back with that rating alone.
    table.run(p, [rating("u", "7", 4.0, 9)])
    assert [pair["event_id"] for pair in p.user("u", table.data.get).wnn.pairs()] == [9]
    assert table.user(p, b"u").erasure.through == 4


def test_the_manifest_records_an_erasure_in_a_version_of_its_own():
    p, table = StreamProcessor(catalogue=catalogue()), Table()
    table.run(p, [rating("u", "3", 1.0, 1), rating("v", "3", 4.0, 2), forget_user("u", offset=3)])
    versions = {key: msgpack_version(value) for key, value in table.data.items()}
    assert versions == {b"u": ERASED_MANIFEST_VERSION, b"v": MANIFEST_VERSION}


def test_forget_by_item():
    p, table = StreamProcessor(catalogue=catalogue()), Table()
    table.run(p, [rating("u", "3", 1.0, 1), rating("u", "4", 5.0, 2)])
    table.run(p, [forget("u", item="3")])
    assert [pair["item"] for pair in p.user("u", table.data.get).wnn.pairs()] == ["4"]


def test_forgets_that_match_nothing_go_to_the_dlq_and_store_nothing():
    p, table = StreamProcessor(catalogue=catalogue()), Table()
    table.run(p, [rating("u", "3", 1.0, 1)])
    out = table.run(
        p, [forget("ghost", event_id=1), forget("u", event_id=99), forget("u", item="17"), forget_user("nobody")]
    )
    reasons = [json.loads(v)["reason"] for _, v in out.dead_letters]
    assert len(reasons) == 4 and "unknown user" in reasons[0] and "event_id 99" in reasons[1]
    assert "item '17'" in reasons[2] and "unknown user 'nobody'" in reasons[3]
    assert b"ghost" not in table.data and b"nobody" not in table.data and not out.states


def test_implicit_events_are_learned_as_the_scales_highest_and_lowest_ratings():
    p, table = StreamProcessor(catalogue=catalogue()), Table()
    events = [implicit_message("u", "3", 10, event_id=1), implicit_message("u", "4", 20, liked=False, event_id=2)]
    out = table.run(p, [Incoming(b"u", value, 0, k) for k, value in enumerate(events)])
    assert out.applied == 2 and not out.dead_letters
    stored = [(pair["item"], pair["rating"]) for pair in p.user("u", table.data.get).wnn.pairs()]
    assert stored == [("3", 5.0), ("4", 1.0)]
    bad = Incoming(b"u", b'{"v": 1, "type": "implicit", "user": "u", "item": "5", "ts": 30, "liked": "yes"}', 0, 9)
    assert "liked" in json.loads(table.run(p, [bad]).dead_letters[0][1])["reason"]


BAD = [
    (b"u", b"{broken", "not JSON"),
    (b"u", b'{"user": "u", "item": "1", "rating": NaN, "ts": 5}', "not JSON"),  # NaN is not JSON (RFC 8259)
    (b"u", b'{"user": "u", "item": "1", "rating": 1e999, "ts": 5}', "out of range"),
    (b"u", b'{"user": "u", "item": "1", "rating": 11, "ts": 5}', "outside"),
    (b"u", b'{"user": "u", "item": "1", "rating": 4, "ts": -1e20}', "event time"),
    (b"u", b'{"user": "u", "item": "1", "rating": 4, "ts": 1e300}', "event time"),
    (b"u", b'{"user": "u", "item": "1", "rating": 4, "ts": 5, "event_id": 1e30}', "event_id"),
    (b"u", b'{"user": "u", "item": "1", "rating": 4, "ts": 5, "event_id": 1.5}', "event_id"),
    (b"u", b'{"user": "u", "item": "1", "rating": 4, "ts": 5, "event_id": 99999999999999999999}', "64-bit"),
    (b"u", b'{"user": "u", "rating": 4, "ts": 5}', "'item'"),
    (b"u", b'{"user": "u", "item": "1", "rating": "4", "ts": 5}', "rating"),
    (b"u", b'{"user": "u", "item": "1", "rating": 4}', "event time"),
    (
        b"u",
        b'{"user": "u", "item": 1000000000000000000000000000000000000000000000000000000000000000000000000000000'
        b"00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        b"00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        b'00000, "rating": 4, "ts": 5}',
        "longer than",
    ),
    (b"u", b'{"user": "u", "item": "' + b"i" * 300 + b'", "rating": 4, "ts": 5}', "longer than"),
    (b"u", b'{"user": "u", "type": "teleport"}', "unknown event type"),
    (b"u", rating_message("u", "1", 0.5, 5), "outside the rating scale 1..5"),
    (None, rating_message("u", "1", 4.0, 5), "no key"),
    (b"v", rating_message("u", "1", 4.0, 5), "differs"),
    (b"u", b'{"user": "u", "item": "1", "rating": 4, "ts": 5, "pad": "' + b"x" * 70000 + b'"}', "exceeds"),
    (b"u", b"[" * 60000, "Expected `object`"),
]


@pytest.mark.parametrize("key,value,reason", BAD, ids=[r for _, _, r in BAD])
def test_a_bad_message_goes_to_the_dlq_with_its_reason_and_leaves_no_trace(key, value, reason):
    p, table = StreamProcessor(catalogue=catalogue()), Table()
    clean, clean_table = StreamProcessor(catalogue=catalogue()), Table()
    table.run(p, [rating("u", "2", 4.0, 1)])
    clean_table.run(clean, [rating("u", "2", 4.0, 1)])
    counts = p.space.counts.copy()
    out = table.run(p, [Incoming(key, value, 0, 7), rating("u", "4", 2.0, 8)])
    clean_table.run(clean, [rating("u", "4", 2.0, 8)])
    [(_, dlq)] = out.dead_letters
    doc = json.loads(dlq)
    assert reason in doc["reason"] and doc["offset"] == 7 and p.dead_letter_reasons == {"schema": 1}
    assert doc["value_bytes"] == len(value) and len(dlq) < 40_000  # an oversized value is cut, with its size
    assert [e["event_id"] for e in docs(out.recommendations)[0]["events"]] == [8]  # the next good one is processed
    assert p.space.counts.sum() == counts.sum() + 1
    assert table.data == clean_table.data  # byte for byte what the good messages alone leave


def test_a_half_star_deployment_learns_half_stars_and_predicts_on_its_scale():
    from wnn.config import WNNConfig
    from wnn.rating_scale import HALF_STARS

    p, table = StreamProcessor(catalogue=catalogue(), config=WNNConfig(rating_scale=HALF_STARS)), Table()
    out = table.run(p, [rating("u", str(t % 20), 0.5, t) for t in range(40)])
    assert not out.dead_letters
    [drift] = drift_of_users(out)
    assert [r["rating"] for r in drift["records"]] == [0.5] * 40
    assert min(r["predicted"] for r in drift["records"]) < 1.0  # below anything the 1-5 scale can predict


def test_an_internal_error_costs_one_message_and_leaves_the_user_unchanged(monkeypatch):
    import stream.processor as module

    p, table = StreamProcessor(catalogue=catalogue()), Table()
    real = module.learn_run

    def flaky(space, user, model, indices, ratings, stamps, event_ids):
        if 2 in event_ids.tolist():
            raise RuntimeError("boom")
        return real(space, user, model, indices, ratings, stamps, event_ids)

    monkeypatch.setattr(module, "learn_run", flaky)
    out = table.run(p, [rating("u", "1", 4.0, 1), rating("u", "2", 4.0, 2), rating("u", "3", 4.0, 3)])
    assert [json.loads(v)["reason"] for _, v in out.dead_letters] == ["internal error (RuntimeError: boom)"]
    assert [e["event_id"] for e in docs(out.recommendations)[0]["events"]] == [1, 3]
    assert [pair["event_id"] for pair in p.user("u", table.data.get).wnn.pairs()] == [1, 3]
    assert p.dead_letter_reasons["internal"] == 1


def test_recovery_re_derives_the_item_statistics_of_an_uninterrupted_run(movielens):
    """A worker that lost everything but the user table ends with the item statistics of the one that never
    stopped: the shares are derived from the stored users, never trusted."""
    n = 3000
    live, table = StreamProcessor(Settings(share_buckets=4), catalogue=movielens), Table()
    messages = []
    for e in range(n):
        user = movielens.user_ids[movielens.users[e]]
        partition = int(movielens.users[e]) % 4
        messages.append(
            Incoming(
                user.encode(),
                rating_message(
                    user,
                    movielens.item_ids[movielens.items[e]],
                    float(movielens.ratings[e]),
                    int(movielens.timestamps[e]),
                    event_id=e,
                ),
                partition,
                e,
            )
        )
    for start in range(0, n, 500):
        table.run(live, messages[start : start + 500])
    table.run(
        live, [forget(movielens.user_ids[movielens.users[10]], event_id=10, partition=int(movielens.users[10]) % 4)]
    )
    live.pending_shares()  # brings the live shares up to date
    fresh = StreamProcessor(Settings(share_buckets=4), catalogue=movielens)
    info = fresh.recover(range(4), table.items())
    assert info["users"] == len(table.users(live)) and info["unreadable"] == 0
    for partition in range(4):
        assert fresh.item_shares.shares[partition] == live.item_shares.shares[partition]
    assert [fresh.space.statistics(i) for i in range(fresh.space.n_items)] == [
        live.space.statistics(i) for i in range(live.space.n_items)
    ]
    assert fresh.space.next_items == live.space.next_items
    # every bucket of every owned partition is republished, at once
    assert len(fresh.pending_shares(now=0.0)) == 4 * 4


def test_item_shares_are_published_once_enough_ratings_changed_them_or_the_oldest_change_is_old_enough():
    p = StreamProcessor(Settings(share_publish_ratings=5, share_publish_max_age_s=10.0), catalogue=catalogue())
    table = Table()
    table.run(p, [rating("u", str(t), 4.0, t) for t in range(3)])
    assert p.pending_shares(now=100.0) == [] and p.pending_shares(now=105.0) == []  # 3 ratings, first seen at 100
    table.run(p, [rating("u", str(t), 4.0, t) for t in range(3, 5)])
    published = p.pending_shares(now=106.0)  # 5 ratings
    assert published and p.pending_shares(now=107.0) == []
    table.run(p, [rating("u", "9", 4.0, 9)])
    assert p.pending_shares(now=108.0) == [] and p.pending_shares(now=117.9) == []
    assert p.pending_shares(now=118.0)  # its one rating was first seen 10 s ago
    table.run(p, [forget("u", event_id=9)])
    assert p.pending_shares(now=119.0) == [] and p.pending_shares() != []  # without a time: everything changed


def test_another_workers_buckets_move_the_item_space_and_own_ones_are_ignored():
    owner, replica = StreamProcessor(catalogue=catalogue()), StreamProcessor(catalogue=catalogue())
    Table().run(owner, [rating("u", "7", 5.0, t, partition=1) for t in range(5)])
    shares = owner.pending_shares()
    replica.owned = {0}
    idx = replica.space.index("7")
    for _, key, value in shares:
        assert parse_share_key(key)[0] == 1
        replica.on_share(key, value)
    assert replica.space.counts[idx] == 5 and replica.space.baseline(idx) == pytest.approx(owner.space.baseline(idx))
    assert np.array_equal(replica.space.addresses[idx], owner.space.addresses[owner.space.index("7")])
    replica.owned = {0, 1}
    _, key, value = shares[0]
    assert not replica.on_share(key, ShareBucket({}).to_bytes())  # an own partition: derived here, never read
    assert not replica.on_share(b"garbage", value)


def test_global_report_aggregates_the_window():
    p, table = StreamProcessor(catalogue=catalogue()), Table()
    assert p.global_report() is None
    table.run(p, [rating("u", "1", 5.0, 1), rating("u", "2", 1.0, 2)])
    report = json.loads(p.global_report())
    assert report["kind"] == "global" and report["events"] == 2 and report["events_total"] == 2
    assert report["mae"] > 0 and p.global_report() is None


def test_the_cache_is_bounded_by_bytes():
    # A user of one rating keeps no table (a few KB): ten of them do not fit in 12 KB.
    p, table = StreamProcessor(Settings(cache_mib=12_000 / (1 << 20)), catalogue=catalogue()), Table()
    table.run(p, [rating(f"u{k}", "1", 4.0, k) for k in range(10)])
    assert p.cache.currsize <= 12_000 and 1 < len(p.cache) < 10
    reads = table.reads
    table.run(p, [rating("u0", "2", 4.0, 100)])  # evicted: read back from the table, nothing lost
    assert table.reads == reads + 1  # evicted: read back from the table (its manifest, which holds its one pair)
    assert p.user("u0", table.data.get).wnn.n_pairs == 2
    assert p.user_lookups == {"new": 10, "table": 1}
    table.run(p, [rating("u0", "3", 4.0, 101)])
    assert p.user_lookups["cache"] == 1


@pytest.mark.parametrize("per_user", [1, 30])
def test_the_cache_counts_within_15_percent_of_what_its_users_really_hold(per_user):
    """The cache's byte budget is only a bound if each entry's count is what it costs: clearing the cache must free
    (tracemalloc) about what it counted, networks, tombstones, layouts and the cache's own bookkeeping together."""
    import gc
    import tracemalloc

    p, table, n_users = StreamProcessor(Settings(cache_mib=1024), catalogue=catalogue()), Table(), 300
    messages = [
        rating(f"user-{u}", str(t % 20 + 1), 4.0, t, partition=u % 4)
        for t, u in enumerate([u for _ in range(per_user) for u in range(n_users)], start=1)
    ]
    table.run(p, [rating("warm", "1", 4.0, 10**6), forget("warm", event_id=10**6)])  # the processor's own caches
    tracemalloc.start()
    try:
        for start in range(0, len(messages), 500):
            table.run(p, messages[start : start + 500])
        table.run(p, [forget("user-1", event_id=2, partition=1)])
        gc.collect()
        held, in_use, counted = tracemalloc.get_traced_memory()[0], ARENA.bytes_in_use, p.cache.currsize
        p.forget_cache()
        gc.collect()
        # Objects go back to the allocator; pairs' blocks go back to the arena, whose pages stay for later users.
        freed = held - tracemalloc.get_traced_memory()[0] + in_use - ARENA.bytes_in_use
    finally:
        tracemalloc.stop()
    assert len(table.user(p, b"user-1").forgotten) == 1
    assert abs(counted - freed) <= 0.15 * freed, (counted / n_users, freed / n_users)


def test_lists_carry_their_score_terms_only_when_asked():
    stream = [rating("u", str(i), float(1 + i % 5), i) for i in range(6)]
    plain = docs(Table().run(StreamProcessor(Settings(top_n=5), catalogue=catalogue()), stream).recommendations)[0]
    explained = docs(
        Table()
        .run(StreamProcessor(Settings(top_n=5, list_explanations=True), catalogue=catalogue()), stream)
        .recommendations
    )[0]
    assert [i["item"] for i in plain["items"]] == [i["item"] for i in explained["items"]]
    assert not any("why" in i for i in plain["items"])
    for item in explained["items"]:
        why = item["why"]
        total = sum(why[t] for t in ("popularity", "sequence", "affinity", "rating", "like"))
        assert total == pytest.approx(item["score"], abs=1e-3) and "followed" in why
