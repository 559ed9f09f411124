"""The agent's wiring, through faust's ``test_context()``: no broker, output topics captured."""

import json

import pytest

from stream.app import create_app
from stream.schemas import forget_message, rating_message
from stream.settings import Settings


@pytest.fixture
def app_and_sent(tmp_path, monkeypatch):
    app = create_app(Settings(state_dir=tmp_path, data=None, topic_prefix="unit."), store="memory://")
    sent: list[tuple[str, bytes, dict]] = []
    for name, topic in app.output_topics.items():
        async def send(key=None, value=None, _name=name, **kwargs):
            sent.append((_name, key, json.loads(value)))
        monkeypatch.setattr(topic, "send", send)
    return app, sent


def agent_of(app):
    return app.agents["stream.app.process"]


async def test_bad_input_goes_to_the_dlq_and_good_events_around_it_are_processed(app_and_sent):
    app, sent = app_and_sent
    async with agent_of(app).test_context() as agent:
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


async def test_user_state_is_written_to_the_table_and_forget_re_emits(app_and_sent):
    app, sent = app_and_sent
    async with agent_of(app).test_context() as agent:
        await agent.put(rating_message("u2", "a", 5.0, 10, event_id=7), key=b"u2")
        await agent.put(rating_message("u2", "b", 1.0, 11, event_id=8), key=b"u2")
        assert app.users_table.get(b"u2") is not None
        await agent.put(forget_message("u2", event_id=8), key=b"u2")
    last = [doc for name, _, doc in sent if name == "recommendations"][-1]
    assert last["cause"] == "forget" and last["n_ratings"] == 1
    drift = [doc for name, _, doc in sent if name == "drift-metrics"]
    assert len(drift) == 2 and all(d["kind"] == "user" for d in drift)


async def test_corrupt_table_value_goes_to_the_dlq(app_and_sent):
    app, sent = app_and_sent
    async with agent_of(app).test_context() as agent:
        await agent.put(rating_message("u3", "a", 5.0, 10, event_id=1), key=b"u3")
        app.processor.forget_cache()
        app.users_table.data[b"u3"] = b"garbage"  # the store itself: tables refuse writes outside a stream
        await agent.put(rating_message("u3", "b", 5.0, 11, event_id=2), key=b"u3")
    dlq = [doc for name, _, doc in sent if name == "ratings-dlq"]
    assert len(dlq) == 1 and "stored user state unusable" in dlq[0]["reason"]
