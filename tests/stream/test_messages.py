import json

import pytest

from stream.messages import (
    ForgetEvent,
    RatingEvent,
    SchemaError,
    dead_letter_message,
    drift_messages,
    drift_record,
    event_id_from_offset,
    forget_message,
    list_batch_messages,
    lists_of,
    parse_input,
    rating_message,
    recommendation_message,
    user_drift,
)
from wnn.rating_scale import HALF_STARS, WHOLE_STARS


def test_rating_round_trip():
    event = parse_input(rating_message("7", "42", 4.5, 100, event_id=9), key=b"7", scale=WHOLE_STARS)
    assert event == RatingEvent("7", "42", 4.5, 100, 9)


def test_integer_ids_and_default_event_id():
    event = parse_input(b'{"user": 7, "item": 42, "rating": 3, "ts": 5}', partition=2, offset=11, scale=WHOLE_STARS)
    assert event == RatingEvent("7", "42", 3.0, 5, event_id_from_offset(2, 11))
    assert event_id_from_offset(2, 11) != event_id_from_offset(1, 11)


def test_forget_by_event_or_item():
    assert parse_input(forget_message("7", event_id=3), scale=WHOLE_STARS) == ForgetEvent("7", 3, None)
    assert parse_input(forget_message("7", item="42"), scale=WHOLE_STARS) == ForgetEvent("7", None, "42")


@pytest.mark.parametrize(
    "raw, reason",
    [
        (None, "tombstone"),
        (b"\xff\xfe", "not JSON"),
        (b"not json", "not JSON"),
        (b"[1, 2]", "Expected `object`"),
        (b'{"v": 2, "user": "1", "item": "2", "rating": 3, "ts": 1}', "schema version"),
        (b'{"user": "1", "item": "2", "rating": 9, "ts": 1}', "outside"),
        (b'{"user": "1", "item": "2", "rating": "five", "ts": 1}', r"got `str` - at `\$.rating`"),
        (b'{"user": "1", "item": "2", "rating": NaN, "ts": 1}', "not JSON"),
        (b'{"user": "1", "rating": 3, "ts": 1}', "'item'"),
        (b'{"user": true, "item": "2", "rating": 3, "ts": 1}', "user"),
        (b'{"user": "1", "item": "2", "rating": 3}', "'ts'"),
        (b'{"type": "like", "user": "1"}', "unknown event type"),
        (b'{"type": "forget", "user": "1"}', "exactly one"),
    ],
)
def test_bad_input_is_refused_with_a_reason(raw, reason):
    with pytest.raises(SchemaError, match=reason):
        parse_input(raw, scale=WHOLE_STARS)


def test_key_must_match_user():
    with pytest.raises(SchemaError, match="wrong partition"):
        parse_input(rating_message("7", "1", 3.0, 1), key=b"8", scale=WHOLE_STARS)


def test_ratings_are_checked_against_the_deployments_scale():
    half_star = rating_message("7", "1", 0.5, 1)
    with pytest.raises(SchemaError, match=r"outside the rating scale 1\.\.5"):
        parse_input(half_star, scale=WHOLE_STARS)
    assert parse_input(half_star, scale=HALF_STARS).rating == 0.5


def test_dead_letter_keeps_the_original_bytes():
    doc = json.loads(dead_letter_message(b"\xff\x00", "not JSON", 1, 5, b"k"))
    assert doc["value_encoding"] == "base64" and doc["reason"] == "not JSON"
    assert doc["partition"] == 1 and doc["offset"] == 5 and doc["key"] == "k"


def test_recommendation_message_fields():
    from stream.messages import covered_event

    events = [covered_event(9, 4, "rating"), covered_event(8, 5, "forget", duplicate=True)]
    doc = json.loads(recommendation_message("7", ["1", "2"], [0.9, 0.5], 1, 0, events, 100, 3))
    assert doc["items"] == [{"item": "1", "score": 0.9}, {"item": "2", "score": 0.5}]
    assert doc["events"] == [
        {"event_id": 9, "offset": 4, "cause": "rating"},
        {"event_id": 8, "offset": 5, "cause": "forget", "duplicate": True},
    ]
    assert doc["event_time"] == 100 and doc["model_version"] == 1 and doc["v"] == 2


def test_replay_pacing_never_asks_for_a_negative_sleep_and_takes_the_later_limit():
    from wnnrec.replay import pacing_due

    assert pacing_due(10.0, 5, 100.0, None, None) is None
    assert pacing_due(10.0, 400, 0.0, None, 400.0) == 11.0
    assert pacing_due(10.0, 0, 86400.0, 86400.0, None) == 11.0
    assert pacing_due(10.0, 800, 86400.0, 86400.0, 400.0) == 12.0  # the rate limit is the later one here


def test_a_partitions_drift_is_split_between_users_so_no_message_holds_too_many_records():
    record = drift_record(1, 100, 3.2, 4.0, False, 1)
    users = [user_drift(f"u{k}", [record] * size, 0.0) for k, size in enumerate([1500, 400, 300, 2500, 1])]
    messages = [json.loads(m) for m in drift_messages(3, users)]
    assert [[u["user"] for u in m["users"]] for m in messages] == [["u0", "u1"], ["u2"], ["u3"], ["u4"]]
    assert all(m["kind"] == "batch" and m["partition"] == 3 for m in messages)
    # A user's records stay together, even when they alone are over the limit.
    assert [len(u["records"]) for m in messages for u in m["users"]] == [1500, 400, 300, 2500, 1]


def test_a_partitions_lists_are_joined_as_they_are_and_split_by_size(monkeypatch):
    import stream.messages

    monkeypatch.setattr(stream.messages, "LIST_BATCH_BYTES", 600)
    lists = [recommendation_message(f"u{k}", ["1", "2"], [0.5, 0.25], 5, 1, [], 100, 2) for k in range(5)]
    messages = list_batch_messages(1, lists)
    assert 1 < len(messages) < 5 and all(len(m) < 600 + len(lists[0]) + 60 for m in messages)
    joined = [entry for m in messages for entry in lists_of(json.loads(m))]
    assert joined == [json.loads(value) for value in lists]
