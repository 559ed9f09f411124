"""The unlearning contract through the stream processor: several partitions, micro-batch boundaries anywhere,
redeliveries (replays), forgets by event id, by item and of a whole user, evictions and taste-window restarts; then
the same after a recovery that derives everything from the stored users alone.

A processor that learned a stream s and forgot S (as the stream's messages say) holds the same users, item
statistics, partition shares, next-item counts, candidates, predictions and top-10s, bit for bit and by id, as one
that learned s - S - E (E: what its size limit evicted) in the same order, and as a fresh worker that recovered from
its user table.
"""

from __future__ import annotations

import itertools
import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.batch import Incoming
from stream.messages import forget_message, forget_user_message, rating_message
from stream.processor import StreamProcessor
from stream.settings import Settings
from stream.user_state import UserState
from tests.conftest import synthetic_dataset
from wnn.config import WNNConfig
from wnn.system_state import differences, snapshot

EXAMPLES = int(os.environ.get("WNN_CONTRACT_EXAMPLES", "100"))
PARTITIONS = 3
USERS = ["u0", "u1", "u2", "u3", "u4"]
ITEMS = [str(i) for i in range(8)]  # 0-5 are in the catalogue; 6 and 7 are registered when first rated
CONFIGS = {
    "default": WNNConfig(n_candidates=3),
    "evicting": WNNConfig(max_pairs=4, n_candidates=3),
    "restarting": WNNConfig(drift_threshold=0.4, drift_allowance=0.05),
}

rating_event = st.tuples(
    st.just("rate"),
    st.sampled_from(USERS),
    st.sampled_from(ITEMS),
    st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0, 2.5]),
    st.integers(0, 4),
)
other_event = st.tuples(
    st.sampled_from(["forget", "forget-item", "forget-user", "redeliver", "redeliver"]), st.integers(0, 10_000)
)
stream = st.integers(1, 80).flatmap(
    lambda n: st.lists(st.one_of(rating_event, rating_event, rating_event, other_event), min_size=n, max_size=n)
)


def processor(config: WNNConfig) -> StreamProcessor:
    return StreamProcessor(
        Settings(share_buckets=2, top_n=5),
        config=config,
        catalogue=synthetic_dataset(n_users=2, n_items=6, n_ratings=2),
    )


def partition_of(user: str) -> int:
    return int(user[1:]) % PARTITIONS


def messages_of(events, erased: set[tuple[str, int]] | None = None) -> list[Incoming]:
    """The events as input messages; forgets and redeliveries pick an earlier rating by the drawn number, and a
    forget-user erases the user of that rating (``erased`` collects every rating a forget-user covered)."""
    messages, ratings, ts = [], [], 1_000_000
    erased = set() if erased is None else erased
    for event in events:
        if event[0] == "rate":
            _, user, item, value, step = event
            ts += step * 600
            ratings.append((user, item))
            value = rating_message(user, item, value, ts, event_id=len(ratings) - 1)
        elif not ratings:
            continue
        else:
            event_id = event[1] % len(ratings)
            user, item = ratings[event_id]
            if event[0] == "redeliver":
                value = next(
                    m.value
                    for m in messages
                    if json.loads(m.value).get("event_id") == event_id
                    and json.loads(m.value).get("type", "rating") == "rating"
                )
            elif event[0] == "forget":
                value = forget_message(user, event_id=event_id)
            elif event[0] == "forget-user":
                value = forget_user_message(user)
                erased.update((user, k) for k, (rater, _) in enumerate(ratings) if rater == user)
            else:
                value = forget_message(user, item=item)
        messages.append(Incoming(user.encode(), value, partition_of(user), len(messages)))
    return messages


def run(
    p: StreamProcessor, messages: list[Incoming], cuts: list[int], table: dict[bytes, bytes] | None = None
) -> tuple[dict, list[dict]]:
    """Process ``messages`` in micro-batches cut at ``cuts`` (on ``table``, else an empty user table); returns the
    user table and the ratings the processor applied (not duplicates), in order."""
    table = {} if table is None else table
    applied = []
    bounds = sorted({0, len(messages), *[c % (len(messages) + 1) for c in cuts]})
    by_offset = {m.offset: m for m in messages}
    for start, stop in itertools.pairwise(bounds):
        out = p.process_batch(messages[start:stop], lambda key, partition: table.get(key))
        for _, key, value in out.states:
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
        for _, value in out.recommendations:
            for covered in json.loads(value)["events"]:
                if covered["cause"] == "rating" and not covered.get("duplicate"):
                    applied.append((covered["offset"], json.loads(by_offset[covered["offset"]].value)))
    return table, [doc for _, doc in sorted(applied, key=lambda pair: pair[0])]


def stored_users(p: StreamProcessor, table: dict[bytes, bytes]) -> dict[bytes, UserState]:
    """Every user the table holds, read back through its manifest."""
    return {
        key: UserState.load(table.get, key, p.space, p.settings.tombstones_per_user)
        for key in table
        if b"\x00" not in key
    }


def state_of(p: StreamProcessor, table: dict[bytes, bytes], last_ts: int) -> dict:
    users = {key.decode(): state.wnn for key, state in stored_users(p, table).items()}
    p.pending_shares()  # folds the shares
    state = snapshot(p.space, users, lists_at=last_ts)
    state["shares"] = {
        partition: {p.space.key(i): share for i, share in shares.items()}
        for partition, shares in p.item_shares.shares.items()
        if shares
    }
    return state


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(CONFIGS)), stream, st.lists(st.integers(0, 200), max_size=6))
def test_forgetting_equals_never_learning_through_the_processor(config_name, events, cuts):
    config = CONFIGS[config_name]
    erased: set[tuple[str, int]] = set()
    messages = messages_of(events, erased)
    if not messages:
        return
    forgetting = processor(config)
    table, applied = run(forgetting, messages, cuts)
    kept = {
        (key.decode(), pair["event_id"])
        for key, state in stored_users(forgetting, table).items()
        for pair in state.wnn.pairs()
    }
    assert not kept & erased, "a replay brought an erased user's rating back"
    last = {}  # the last time each kept rating was applied (an evicted rating redelivered is learned again)
    for k, doc in enumerate(applied):
        if (doc["user"], doc["event_id"]) in kept:
            last[(doc["user"], doc["event_id"])] = (k, doc)
    survivors = [doc for _, doc in sorted(last.values(), key=lambda pair: pair[0])]
    never = processor(config)
    never_messages = [
        Incoming(d["user"].encode(), json.dumps(d).encode(), partition_of(d["user"]), k)
        for k, d in enumerate(survivors)
    ]
    never_table, _ = run(never, never_messages, [])
    last_ts = max(json.loads(m.value).get("ts", 0) for m in messages)
    a, b = state_of(forgetting, table, last_ts), state_of(never, never_table, last_ts)
    assert not differences(a, b), differences(a, b)
    recovered = processor(config)
    recovered.recover(range(PARTITIONS), sorted(table.items()))
    c = state_of(recovered, table, last_ts)
    assert not differences(a, c), differences(a, c)
