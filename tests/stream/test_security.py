"""Kafka security end to end: a broker with SASL/PLAIN and ACLs (`deploy/kafka/start --secure`), the worker and the
replayer with credentials, and producers the broker must refuse."""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from stream.admin import BrokerUnavailable, make_producer
from stream.messages import forget_message
from stream.settings import Settings
from wnnrec.deployment import ListCollector, api_get, start_worker, stop_worker, wait_until_serving
from wnnrec.replay import replay

pytestmark = [pytest.mark.broker, pytest.mark.data]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kafka"
PREFIX = "sec."
PORT, CONTROLLER_PORT = 9192, 9193
N = 300


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory):
    """A second, secure broker on its own ports and data folder, stopped and wiped afterwards."""
    if shutil.which("java") is None:
        message = "the secure broker needs Java 17+ (deploy/kafka/start --secure)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    data = tmp_path_factory.mktemp("secure-kafka")
    env = dict(
        os.environ,
        KAFKA_DATA_DIR=str(data),
        KAFKA_PORT=str(PORT),
        KAFKA_CONTROLLER_PORT=str(CONTROLLER_PORT),
        WNNREC_TOPIC_PREFIX=PREFIX,
    )
    started = subprocess.run([str(DEPLOY / "start"), "--secure"], env=env, capture_output=True, text=True, timeout=600)
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        yield f"127.0.0.1:{PORT}", data / "credentials"
    finally:
        subprocess.run([str(DEPLOY / "stop"), "--wipe"], env=env, capture_output=True, timeout=120)


def as_user(base: Settings, credentials: Path, user: str, password: str | None = None) -> Settings:
    if password is not None:
        return dataclasses.replace(base, sasl_username=user, sasl_password=password, sasl_password_file=None)
    return dataclasses.replace(
        base, sasl_username=user, sasl_password=None, sasl_password_file=str(credentials / f"{user}.password")
    )


def test_credentials_work_and_the_broker_refuses_the_rest(secure_broker, movielens, tmp_path):
    bootstrap, credentials = secure_broker
    base = Settings(
        bootstrap=bootstrap,
        topic_prefix=PREFIX,
        app_id="wnnrec",
        partitions=2,
        state_dir=tmp_path / "state",
        web_port=6181,
        api_token=secrets.token_urlsafe(24),
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="worker",
    )
    worker_settings = as_user(base, credentials, "worker")
    ingest = as_user(base, credentials, "ingest")
    collector = ListCollector.started(as_user(base, credentials, "admin"), expected=10**9)
    worker = start_worker(worker_settings, str(tmp_path / "worker.log"))
    try:
        wait_until_serving(ingest, worker, collector, timeout=180)
        replay(ingest, movielens, limit=N, progress=False)
        deadline = time.monotonic() + 120
        while not set(range(N)) <= set(collector.arrivals):
            assert time.monotonic() < deadline, open(tmp_path / "worker.log").read()[-3000:]
            time.sleep(0.5)

        # No credentials, or wrong ones: the broker refuses the connection.
        with pytest.raises(BrokerUnavailable):
            make_producer(
                dataclasses.replace(base, security_protocol="PLAINTEXT", sasl_username=None),
                max_block_ms=5000,
                bootstrap_timeout_ms=5000,
            )
        with pytest.raises(BrokerUnavailable):
            make_producer(
                as_user(base, credentials, "ingest", password="not-the-password"),
                max_block_ms=5000,
                bootstrap_timeout_ms=5000,
            )

        # Authenticated but without an ACL: the forget is refused by the broker and never reaches the model.
        from kafka.errors import TopicAuthorizationFailedError

        user = movielens.user_ids[movielens.users[0]]
        before = api_get(worker_settings, f"/users/{user}/ratings")["ratings"]
        intruder = make_producer(as_user(base, credentials, "intruder"))
        try:
            with pytest.raises(TopicAuthorizationFailedError):
                intruder.send(
                    base.ratings_topic, key=user.encode(), value=forget_message(user, event_id=before[0]["event_id"])
                ).get(timeout=30)
        finally:
            intruder.close()
        time.sleep(3)
        assert api_get(worker_settings, f"/users/{user}/ratings")["ratings"] == before

        # The ingest principal writes ratings and reads nothing.
        from kafka import KafkaConsumer, TopicPartition

        reader = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, consumer_timeout_ms=5000, **ingest.kafka_python_options()
        )
        try:
            reader.assign([TopicPartition(base.ratings_topic, 0)])
            reader.seek_to_beginning()
            with pytest.raises(TopicAuthorizationFailedError):
                reader.poll(timeout_ms=10000)
                reader.poll(timeout_ms=10000)
        finally:
            reader.close()
    finally:
        stop_worker(worker)
        collector.stop_requested = True
        collector.join(10)
