"""The user table's layout (stream.user_layout): a batch writes only what changed, and whatever prefix of a batch's
writes a crash leaves, a reader sees the state before the batch or after it; recovery then converges on the
uninterrupted run."""

from __future__ import annotations

import json

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.batch import Incoming
from stream.messages import forget_message, forget_user_message, rating_message
from stream.processor import StreamProcessor
from stream.settings import Settings
from stream.user_layout import (
    ERASED_MANIFEST_VERSION,
    SEGMENT_PAIRS,
    Erasure,
    plan_writes,
    segment_key,
    split_key,
    tombstones_key,
)
from stream.user_state import UserState, read_stored
from wnn import user_codec
from wnn.config import WNNConfig
from wnn.item_space import ItemSpace
from wnn.pairs import PairLog
from wnn.state_format import StateError, seal
from wnn.user_codec import encode_segment

SPACE = ItemSpace(WNNConfig())
FINGERPRINT = SPACE.config.fingerprint()


def apply(table: dict[bytes, bytes], writes) -> None:
    for key, value in writes:
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


def read(table: dict[bytes, bytes], user: bytes = b"u"):
    stored = UserState.read(table.get, user, SPACE)
    return None if stored is None else (stored.pairs.listing(), stored.forgotten)


# One batch of operations on a user: learn k new pairs, forget pairs at given positions, evict the oldest k.
operation = st.one_of(
    st.tuples(st.just("learn"), st.integers(1, 40)),
    st.tuples(st.just("forget"), st.lists(st.integers(0, 10**6), min_size=1, max_size=3)),
    st.tuples(st.just("evict"), st.integers(1, 30)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(operation, min_size=1, max_size=3), min_size=1, max_size=12), st.integers(1, 9), st.data())
def test_any_prefix_of_a_batchs_writes_reads_as_the_state_before_or_after_it(batches, segment_pairs, data):
    pairs, forgotten, layout, table, next_id = PairLog(), [], None, {}, 0
    for batch in batches:
        tombstones_changed = False
        for op, arg in batch:
            if op == "learn":
                for _ in range(arg):
                    pairs.append(next_id, SPACE.index(str(next_id % 7)), str(next_id % 7), 1.0 + next_id % 5, next_id)
                    next_id += 1
            elif pairs.n:
                positions = sorted({p % pairs.n for p in arg}) if op == "forget" else list(range(min(arg, pairs.n)))
                if op == "forget":
                    forgotten.extend(pairs.event_ids[positions].tolist())
                    tombstones_changed = True
                pairs.delete(positions)
        before = read(table)
        writes, new_layout = plan_writes(
            b"u", 0, FINGERPRINT, pairs, list(forgotten), layout, tombstones_changed, segment_pairs=segment_pairs
        )
        after = (pairs.listing(), list(forgotten))
        # A stored segment is never written again under its key (a reader of an older manifest may follow it).
        assert not [key for key, value in writes if split_key(key)[1] == "segment" and key in table and value]
        crash_at = data.draw(st.integers(0, len(writes)), label="writes that reached the changelog")
        crashed = dict(table)
        apply(crashed, writes[:crash_at])
        seen = read(crashed)
        if before is None:
            assert seen is None or seen[0] == after[0]
        else:  # the tombstones go first, so they may be ahead of the pairs (a redelivered forget then applies)
            assert seen[0] in (before[0], after[0]) and seen[1] in (before[1], after[1])
        apply(table, writes)
        layout = new_layout
        assert read(table) == after
        named = {b"u", tombstones_key(b"u"), *(segment_key(b"u", s) for s in layout.seqs)}
        assert set(table) <= named  # nothing left behind by a complete batch


def segment_event_ids(value: bytes) -> list[int]:
    return user_codec.decode_segment(value, SPACE).event_ids.tolist()


def test_a_batch_that_learned_writes_only_the_manifest_until_its_tail_fills_a_segment():
    pairs = PairLog()
    for e in range(5000):
        pairs.append(e, SPACE.index(str(e % 50)), str(e % 50), 4.0, e)
    writes, layout = plan_writes(b"u", 0, FINGERPRINT, pairs, [], None)
    table: dict[bytes, bytes] = {}
    apply(table, writes)
    whole = sum(len(v) for v in table.values())
    kinds = []
    for e in range(5000, 5000 + 64):
        pairs.append(e, SPACE.index("1"), "1", 3.0, e)
        writes, layout = plan_writes(b"u", 0, FINGERPRINT, pairs, [], layout)
        kinds.append([split_key(k)[1] for k, _ in writes])
        assert sum(len(k) + len(v) for k, v in writes) < whole / 20
        apply(table, writes)
        assert read(table)[0] == pairs.listing()
    # 5,000 pairs are 312 segments of 16 and a tail of 8: the tail fills a segment at the 8th new pair, then every 16th.
    assert SEGMENT_PAIRS == 16
    assert kinds == [["segment", "manifest"] if (5000 + k) % 16 == 0 else ["manifest"] for k in range(1, 65)]
    # The manifest names its 316 segments in about a byte each (numbers and counts packed), beside its tail.
    assert len(table[b"u"]) < 316 * 2 + 300


def test_a_version_5_manifest_is_read_and_its_next_write_keeps_its_segments():
    """Version 5 had no tail: its last segment was appended to in place, so it may hold more than the manifest
    names (a crash before the manifest), and reads as its committed prefix."""
    pairs = PairLog()
    for e in range(4):
        pairs.append(e, SPACE.index("a"), "a", 4.0, e)
    manifest = {"v": 5, "p": 0, "cfg": FINGERPRINT, "s": np.array([0], np.int64).tobytes(), "next": 1, "nt": 0}
    manifest["c"] = np.array([3], np.int32).tobytes()
    table = {b"u": seal(msgpack.packb(manifest, use_bin_type=True)), segment_key(b"u", 0): encode_segment(pairs)}
    stored = UserState.read(table.get, b"u", SPACE)
    assert stored.pairs.event_ids.tolist() == [0, 1, 2]
    pairs = stored.pairs
    pairs.append(9, SPACE.index("b"), "b", 2.0, 9)
    writes, _ = plan_writes(b"u", 0, FINGERPRINT, pairs, [], stored.layout)
    assert [k for k, _ in writes] == [b"u"]
    apply(table, writes)
    assert [p["event_id"] for p in read(table)[0]] == [0, 1, 2, 9]


def test_recovery_lists_orphans_and_the_next_write_deletes_them():
    p = StreamProcessor()
    table: dict[bytes, bytes] = {}
    out = p.process_batch(
        [Incoming(b"u", rating_message("u", str(i), 4.0, i, event_id=i), 0, i) for i in range(3)],
        lambda key, partition: table.get(key),
    )
    apply(table, [(k, v) for _, k, v in out.states])
    table[segment_key(b"u", 7)] = b"a segment of a batch that crashed before its manifest"
    table[segment_key(b"ghost", 0)] = b"the first batch of a user, crashed before its manifest"
    fresh = StreamProcessor()
    info = fresh.recover([0], sorted(table.items()))
    assert info["users"] == 1 and fresh.orphans == {"u": [segment_key(b"u", 7)], "ghost": [segment_key(b"ghost", 0)]}
    out = fresh.process_batch(
        [Incoming(b"u", rating_message("u", "9", 3.0, 9, event_id=9), 0, 9)], lambda key, partition: table.get(key)
    )
    apply(table, [(k, v) for _, k, v in out.states])
    assert segment_key(b"u", 7) not in table and fresh.user("u", table.get).wnn.n_pairs == 4


def test_read_stored_refuses_a_table_whose_user_keys_come_apart():
    table = {b"u": b"m", segment_key(b"v", 0): b"s", segment_key(b"u", 0): b"s"}
    try:
        list(read_stored(table.items(), SPACE))
    except ValueError as exc:
        assert "not together" in str(exc)
    else:
        raise AssertionError("a split user was read")


def test_a_missing_segment_is_reported_not_read_as_a_shorter_history():
    p = StreamProcessor(Settings(segment_pairs=2))
    table: dict[bytes, bytes] = {}
    ratings = [rating_message("u", str(e), 4.0, e, event_id=e) for e in (1, 2, 3)]
    out = p.process_batch([Incoming(b"u", value, 0, e) for e, value in enumerate(ratings)], lambda k, _: table.get(k))
    apply(table, [(k, v) for _, k, v in out.states])
    del table[segment_key(b"u", 0)]
    try:
        UserState.read(table.get, b"u", p.space)
    except StateError as exc:
        assert "missing" in str(exc)
    else:
        raise AssertionError("a manifest without its segment was read")


def test_an_erasure_round_trips_through_the_manifest_and_a_corrupt_one_is_refused():
    erasure = Erasure(through=41, erase_id=(2 << 40) | 7)
    writes, _ = plan_writes(b"u", 2, FINGERPRINT, PairLog(), [], None, erasure=erasure)
    table = dict(writes)
    assert list(table) == [b"u"] and UserState.read(table.get, b"u", SPACE).erasure == erasure
    doc = msgpack.unpackb(table[b"u"][:-4], raw=False)
    assert doc["v"] == ERASED_MANIFEST_VERSION and doc["e"] == [41, (2 << 40) | 7]
    doc["e"] = [41]
    with pytest.raises(StateError, match="erasure"):
        UserState.read({b"u": seal(msgpack.packb(doc, use_bin_type=True))}.get, b"u", SPACE)


# ---------------------------------------------------------------- the processor across a crash mid-write
USERS = ["u0", "u1", "u2"]
events = st.lists(
    st.one_of(
        st.tuples(st.just("rate"), st.sampled_from(USERS), st.integers(0, 6), st.integers(1, 5)),
        st.tuples(st.sampled_from(["forget", "forget", "forget-user"]), st.integers(0, 10**6)),
    ),
    min_size=1,
    max_size=60,
)


def messages_of(draw_events) -> list[Incoming]:
    messages, ratings = [], []
    for event in draw_events:
        if event[0] == "rate":
            _, user, item, value = event
            ratings.append(user)
            value = rating_message(user, str(item), float(value), len(ratings), event_id=len(ratings) - 1)
        elif ratings:
            event_id = event[1] % len(ratings)
            user = ratings[event_id]
            value = forget_message(user, event_id=event_id) if event[0] == "forget" else forget_user_message(user)
        else:
            continue
        messages.append(Incoming(user.encode(), value, 0, len(messages)))
    return messages


def processor() -> StreamProcessor:
    return StreamProcessor(Settings(segment_pairs=3), config=WNNConfig(max_pairs=12))


def stored_view(p: StreamProcessor, table: dict[bytes, bytes]) -> dict:
    users = {
        key: UserState.load(table.get, key, p.space, p.settings.tombstones_per_user)
        for key in table
        if b"\x00" not in key
    }
    p.pending_shares()
    return {
        "users": {k: (s.wnn.to_bytes(), sorted(s.forgotten), s.erasure) for k, s in users.items()},
        "counts": {p.space.key(i): int(p.space.counts[i]) for i in range(p.space.n_items) if p.space.counts[i]},
        "shares": {k: {p.space.key(i): v for i, v in s.items()} for k, s in p.item_shares.shares.items() if s},
    }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, st.integers(1, 8), st.data())
def test_a_crash_mid_write_then_recovery_and_redelivery_ends_as_the_uninterrupted_run(draw_events, batch, data):
    messages = messages_of(draw_events)
    if not messages:
        return
    batches = [messages[i : i + batch] for i in range(0, len(messages), batch)]
    crash_batch = data.draw(st.integers(0, len(batches) - 1), label="batch the crash interrupts")

    def run(p, table, which):
        for chunk in which:
            out = p.process_batch(chunk, lambda key, partition: table.get(key))
            apply(table, [(k, v) for _, k, v in out.states])

    whole_p, whole = processor(), {}
    run(whole_p, whole, batches)
    crashed_p, changelog = processor(), {}
    run(crashed_p, changelog, batches[:crash_batch])
    out = crashed_p.process_batch(batches[crash_batch], lambda key, partition: changelog.get(key))
    writes = [(k, v) for _, k, v in out.states]
    apply(changelog, writes[: data.draw(st.integers(0, len(writes)), label="writes that reached the changelog")])
    recovered = processor()  # the state folder is lost: everything comes from the changelog
    recovered.recover([0], sorted(changelog.items()))
    orphans = {key for keys in recovered.orphans.values() for key in keys}
    run(recovered, changelog, batches[crash_batch:])  # the uncommitted batch comes again, then the rest
    assert stored_view(recovered, changelog) == stored_view(whole_p, whole)
    lists = [json.loads(v) for _, v in out.recommendations]
    assert all(doc["events"] for doc in lists)
    named = set()
    for key in changelog:
        if b"\x00" not in key:
            layout = UserState.load(changelog.get, key, recovered.space, 100).layout
            named |= {key, *(segment_key(key, s) for s in layout.seqs)}
            named |= {tombstones_key(key)} if layout.tombstones else set()  # else left over from before an erasure
    leftovers = set(changelog) - named
    # what no manifest names is an orphan recovery found, kept only while its user has not been written since
    assert leftovers <= orphans
    assert all(split_key(key)[0].decode() in recovered.orphans for key in leftovers)


def test_a_forget_whose_tombstones_landed_without_its_manifest_is_applied_when_redelivered():
    p, table = StreamProcessor(), {}

    def run(p, messages, table, keep=None):
        out = p.process_batch(messages, lambda key, partition: table.get(key))
        writes = [(k, v) for _, k, v in out.states]
        apply(table, writes[:keep])
        return out, writes

    run(p, [Incoming(b"u", rating_message("u", str(i), 4.0, i, event_id=i), 0, i) for i in range(4)], table)
    run(p, [Incoming(b"u", forget_message("u", event_id=0), 0, 4)], table)
    second = [Incoming(b"u", forget_message("u", event_id=1), 0, 5)]
    _, writes = run(p, second, dict(table))
    assert split_key(writes[0][0])[1] == "tombstones"
    apply(table, writes[:1])  # the crash: the tombstones reached the changelog, nothing after them
    recovered = StreamProcessor()
    recovered.recover([0], sorted(table.items()))
    assert recovered.user("u", table.get).wnn.knows(1)  # stored, and tombstoned
    out, _ = run(recovered, second, table)
    assert out.applied == 1 and not out.dead_letters
    assert [p["event_id"] for p in recovered.user("u", table.get).wnn.pairs()] == [2, 3]
