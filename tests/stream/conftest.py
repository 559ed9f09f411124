"""The real-broker fixture: KAFKA_BOOTSTRAP_SERVERS, else a testcontainers Kafka if a Docker daemon answers, else
skip locally. Under CI=true a missing broker is a failure, never a skip."""

from __future__ import annotations

import os

import pytest


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def _reachable(bootstrap: str) -> bool:
    from stream.run import broker_answers
    from stream.settings import Settings

    return broker_answers(Settings(bootstrap=bootstrap))


@pytest.fixture(scope="session")
def kafka_bootstrap():
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        if not _reachable(bootstrap):
            pytest.fail(f"KAFKA_BOOTSTRAP_SERVERS={bootstrap} is set but no broker answers there")
        yield bootstrap
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    message = ("no Kafka broker: set KAFKA_BOOTSTRAP_SERVERS (deploy/kafka/start prints it) or run a Docker daemon "
               "for testcontainers")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
