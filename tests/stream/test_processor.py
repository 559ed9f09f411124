import json

import numpy as np
import pytest

from stream.processor import StreamProcessor, UserState
from stream.schemas import ForgetEvent, RatingEvent
from tests.conftest import synthetic_dataset
from wnn.network import StateError


def catalogue():
    return synthetic_dataset(n_users=4, n_items=20, n_ratings=10)


def rate(processor, user, item, rating, t, stored=None, partition=0):
    return processor.on_rating(RatingEvent(user, item, rating, t, t), stored, partition, t)


def test_rating_emits_a_list_without_rated_items_and_a_drift_metric():
    p = StreamProcessor(catalogue=catalogue(), top_n=5)
    out = rate(p, "u", "3", 5.0, 1)
    rec = json.loads(out.recommendation)
    assert rec["user"] == "u" and len(rec["items"]) == 5 and "3" not in {i["item"] for i in rec["items"]}
    assert rec["cause"] == "rating" and rec["event_id"] == 1 and rec["n_ratings"] == 1
    drift = json.loads(out.drift)
    assert drift["n_ratings"] == 0 and drift["rating"] == 5.0
    assert out.share_key == "3@0" and out.share


def test_state_round_trips_through_the_table_value():
    p = StreamProcessor(catalogue=catalogue())
    out = None
    for t in range(6):
        out = rate(p, "u", str(t), 4.0, t, stored=out.state if out else None)
    p.forget_cache()
    state = UserState.from_bytes(out.state, p.space)
    assert state.wnn.n_pairs == 6 and state.drift.n_ratings == 6


def test_redelivered_rating_changes_nothing():
    p = StreamProcessor(catalogue=catalogue())
    first = rate(p, "u", "3", 5.0, 1)
    again = rate(p, "u", "3", 5.0, 1, stored=first.state)
    assert again.state == first.state and again.share is None and again.drift is None
    assert p.space.counts[p.space.index("3")] == 1


def test_forget_by_item_removes_its_pairs_and_re_emits():
    p = StreamProcessor(catalogue=catalogue())
    out = rate(p, "u", "3", 1.0, 1)
    out = rate(p, "u", "4", 5.0, 2, stored=out.state)
    forgot = p.on_forget(ForgetEvent("u", None, "3"), out.state, 0, 3)
    rec = json.loads(forgot.recommendation)
    assert rec["cause"] == "forget" and rec["n_ratings"] == 1
    assert [pair["item"] for pair in p.user("u", None).wnn.pairs()] == ["4"]


def test_corrupt_stored_state_is_a_state_error():
    p = StreamProcessor(catalogue=catalogue())
    with pytest.raises(StateError):
        rate(p, "u", "3", 5.0, 1, stored=b"\x00garbage")


def test_shares_from_other_partitions_move_the_item_space():
    owner, replica = StreamProcessor(catalogue=catalogue()), StreamProcessor(catalogue=catalogue())
    out = None
    for t in range(5):
        out = rate(owner, "u", "7", 5.0, t, stored=out.state if out else None, partition=1)
    idx = replica.space.index("7")
    assert replica.on_share("7@1", owner.shares["7@1"].to_bytes(), owned_partitions={0})
    assert replica.space.counts[idx] == 5 and replica.space.baseline(idx) == pytest.approx(owner.space.baseline(idx))
    assert np.array_equal(replica.space.addresses[idx], owner.space.addresses[owner.space.index("7")])
    # its own partition's echo, or an older share, is ignored
    assert not replica.on_share("7@1", owner.shares["7@1"].to_bytes(), owned_partitions={0})
    assert not replica.on_share("7@0", owner.shares["7@1"].to_bytes(), owned_partitions={0})


def test_load_shares_rebuilds_the_item_space():
    owner = StreamProcessor(catalogue=catalogue())
    rate(owner, "u", "7", 5.0, 1)
    fresh = StreamProcessor(catalogue=catalogue())
    assert fresh.load_shares([(k, v.to_bytes()) for k, v in owner.shares.items()]) == 1
    assert fresh.space.counts[fresh.space.index("7")] == 1


def test_global_report_aggregates_the_window():
    p = StreamProcessor(catalogue=catalogue())
    assert p.global_report() is None
    out = rate(p, "u", "1", 5.0, 1)
    rate(p, "u", "2", 1.0, 2, stored=out.state)
    report = json.loads(p.global_report())
    assert report["kind"] == "global" and report["events"] == 2 and report["events_total"] == 2
    assert report["mae"] > 0 and p.global_report() is None


def test_transitions_are_counted_live_and_rebuilt_from_stored_states():
    p = StreamProcessor(catalogue=catalogue())
    out = rate(p, "u", "1", 4.0, 1)
    out = rate(p, "u", "2", 4.0, 2, stored=out.state)
    out = rate(p, "u", "3", 4.0, 3, stored=out.state)
    space = p.space
    one, two, three = (space.index(k) for k in ("1", "2", "3"))
    live = space.transitions[[one, two], [two, three]].tolist()
    assert live == [1.0, 1.0] and space.transition_totals[one] == 1
    assert p.rebuild_transitions([(b"u", out.state), (b"bad", b"\x00"), (b"none", None)]) == 1
    assert space.transitions[[one, two], [two, three]].tolist() == live
    assert space.transitions.sum() == 2
