"""The agent's wiring, through faust's ``test_context()``: no broker, output topics captured."""

import json

import pytest

from stream.messages import forget_message, rating_message
from stream.settings import ApiTokenError, Settings
from stream.worker import create_worker
from stream.worker.offline import without_broker

TOKEN = "unit-test-token-0123456789"


@pytest.fixture
def worker_and_sent(tmp_path, monkeypatch):
    worker = create_worker(
        Settings(state_dir=tmp_path, data=None, topic_prefix="unit.", batch_max=1, api_token=TOKEN), store="memory://"
    )
    sent: list[tuple[str, bytes, dict]] = []
    shares: list[tuple[int, bytes]] = []

    def sink(name, key, value, partition):
        if name == "changelog:item-stats":
            shares.append((partition, key))
        elif not name.startswith("changelog:"):
            sent.append((name, key, json.loads(value)))

    without_broker(worker, sink)
    return worker, sent


async def until(condition, timeout: float = 5.0) -> None:
    """Batches are processed when the take buffer yields, after ``put`` returns: wait for the effect."""
    import asyncio

    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the agent did not get there in time")


async def test_bad_input_goes_to_the_dlq_and_good_events_around_it_are_processed(worker_and_sent):
    worker, sent = worker_and_sent
    async with worker.agent.test_context() as agent:
        await agent.put(rating_message("u1", "a", 4.0, 10, event_id=1), key=b"u1")
        await agent.put(b"{broken", key=b"u1")
        await agent.put(rating_message("u1", "b", 2.0, 20, event_id=2), key=b"u1")
    kinds = [name for name, _, _ in sent]
    assert kinds.count("ratings-dlq") == 1 and kinds.count("recommendations") == 2
    dlq = next(doc for name, _, doc in sent if name == "ratings-dlq")
    assert "not JSON" in dlq["reason"] and dlq["value"] == "{broken"
    lists = [doc for name, _, doc in sent if name == "recommendations"]
    assert [doc["n_ratings"] for doc in lists] == [1, 2]
    assert not {"a", "b"} & {i["item"] for i in lists[-1]["items"]}
    assert worker.processor.pending_shares()  # buckets to publish at the next interval
    counted = counted_messages(worker)  # /metrics counts what was produced, by topic and by changelog
    assert {name: n for name, n in counted.items() if not name.startswith("changelog:")} == {
        name: kinds.count(name) for name in set(kinds)
    }
    assert counted["changelog:user-wnn"] >= 1


def counted_messages(worker) -> dict[str, float]:
    """The worker's count of the messages it produced (``wnnrec_messages_total`` of /metrics), by topic or changelog."""
    return {
        sample.labels["to"]: sample.value
        for family in worker.metrics.messages_sent.collect()
        for sample in family.samples
        if sample.name == "wnnrec_messages_total"
    }


async def test_user_state_is_written_to_the_table_and_forget_re_emits(worker_and_sent):
    worker, sent = worker_and_sent
    async with worker.agent.test_context() as agent:
        await agent.put(rating_message("u2", "a", 5.0, 10, event_id=7), key=b"u2")
        await agent.put(rating_message("u2", "b", 1.0, 11, event_id=8), key=b"u2")
        await until(lambda: worker.tables.users.data.get(b"u2") is not None)
        await agent.put(forget_message("u2", event_id=8), key=b"u2")
    last = [doc for name, _, doc in sent if name == "recommendations"][-1]
    assert last["events"][-1]["cause"] == "forget" and last["n_ratings"] == 1
    drift = [doc for name, _, doc in sent if name == "drift-metrics"]
    assert len(drift) == 2 and all(d["kind"] == "batch" and d["users"][0]["user"] == "u2" for d in drift)


async def test_corrupt_table_value_goes_to_the_dlq(worker_and_sent):
    worker, sent = worker_and_sent
    async with worker.agent.test_context() as agent:
        await agent.put(rating_message("u3", "a", 5.0, 10, event_id=1), key=b"u3")
        await until(lambda: worker.tables.users.data.get(b"u3") is not None)
        worker.processor.forget_cache()
        worker.tables.users.data[b"u3"] = b"garbage"  # the store itself: tables refuse writes outside a stream
        await agent.put(rating_message("u3", "b", 5.0, 11, event_id=2), key=b"u3")
    dlq = [doc for name, _, doc in sent if name == "ratings-dlq"]
    assert len(dlq) == 1 and "stored user state unusable" in dlq[0]["reason"]


def test_the_app_uses_the_tuned_transport_and_binds_loopback(tmp_path):
    from stream.faust_compat import Transport, consumer_options

    app = create_worker(
        Settings(state_dir=tmp_path, data=None, fetch_max_wait_s=0.007, api_token=TOKEN), store="memory://"
    ).app
    assert isinstance(app.transport, Transport) and consumer_options(app).fetch_max_wait_ms == 7
    assert app.conf.web_bind == "127.0.0.1"


def test_a_worker_without_an_api_token_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.delenv("WNNREC_API_TOKEN", raising=False)
    with pytest.raises(ApiTokenError, match="WNNREC_API_TOKEN"):
        create_worker(Settings(state_dir=tmp_path, data=None), store="memory://")
    with pytest.raises(ApiTokenError, match="at least 16"):
        create_worker(Settings(state_dir=tmp_path, data=None, api_token="short"), store="memory://")
    create_worker(Settings(state_dir=tmp_path, data=None, insecure_no_auth=True), store="memory://")


def test_the_api_token_can_come_from_a_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    assert Settings(api_token_file=str(path)).resolved_api_token() == TOKEN
    with pytest.raises(ApiTokenError, match="cannot read"):
        Settings(api_token_file=str(tmp_path / "missing")).resolved_api_token()


def test_the_tables_changelogs_roll_and_compact_within_the_configured_lag(tmp_path):
    """A user's state from before a forget leaves the changelog within a bound (docs/operating.md, "Where else a
    forgotten rating lives")."""
    worker = create_worker(
        Settings(state_dir=tmp_path, data=None, topic_prefix="unit.", api_token=TOKEN, changelog_compaction_lag_s=600),
        store="memory://",
    )
    for table in worker.tables:
        configs = table.changelog_topic.config
        assert configs["segment.ms"] == configs["max.compaction.lag.ms"] == "600000"
        assert configs["min.cleanable.dirty.ratio"] == "0.01"
    with pytest.raises(ValueError, match="changelog_compaction_lag_s"):
        Settings(changelog_compaction_lag_s=0)


async def test_a_batch_of_only_skipped_input_is_no_progress_for_the_stall_watchdog(worker_and_sent):
    """A partition read again after a hole whose awaited offset never comes gets only messages from after it, all
    skipped: the agent must not count them as input taken, or the stall watchdog never reads the partition again."""
    from stream.faust_compat import InputRecord
    from stream.worker.agents import process_records

    worker, _ = worker_and_sent
    worker.continuity.begin(0, committed=10)
    worker.continuity.read_again_from(0, 10)  # awaiting offset 10
    value = rating_message("u9", "a", 4.0, 10, event_id=99)
    skipped = [(None, InputRecord(0, 12, b"u9", value, 0.0)), (None, InputRecord(0, 13, b"u9", value, 0.0))]
    assert await process_records(worker, skipped) is False
    assert worker.continuity.stale_skipped == 2


def test_an_erase_token_must_be_long_enough_and_not_the_read_token(tmp_path):
    from stream.settings import ApiTokenError

    with pytest.raises(ApiTokenError, match="at least 16"):
        Settings(api_token=TOKEN, api_erase_token="short").resolved_erase_token()
    with pytest.raises(ApiTokenError, match="must differ"):
        Settings(api_token=TOKEN, api_erase_token=TOKEN).resolved_erase_token()
    path = tmp_path / "erase"
    path.write_text("erase-token-from-a-file-01\n")
    assert (
        Settings(api_token=TOKEN, api_erase_token_file=str(path)).resolved_erase_token() == "erase-token-from-a-file-01"
    )
    assert Settings(api_token=TOKEN).resolved_erase_token() is None
