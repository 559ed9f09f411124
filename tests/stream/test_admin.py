"""Topics an operator can trust: every topic wnnrec creates, the tables' changelogs included, is replicated as the
cluster allows (min(3, brokers), 2 in sync from 3 replicas) unless the settings say otherwise; never once on a
cluster that has more brokers."""

from types import SimpleNamespace

import pytest

from stream import admin
from stream.settings import Settings
from stream.worker.serve import create_changelogs


class FakeCluster:
    """kafka-python's admin client over a cluster of ``brokers``: what ensure_topics calls, the topics it creates."""

    def __init__(self, brokers: int) -> None:
        self.brokers, self.created = brokers, {}

    def client(self, **options):
        cluster = self

        class Client:
            def list_topics(self):
                return list(cluster.created)

            def describe_cluster(self):
                return {"brokers": [{"broker_id": b} for b in range(cluster.brokers)]}

            def create_topics(self, topics):
                cluster.created.update({t.name: t for t in topics})

            def close(self):
                pass

        return Client()


@pytest.fixture
def cluster(monkeypatch):
    def on(brokers: int) -> FakeCluster:
        fake = FakeCluster(brokers)
        monkeypatch.setattr("kafka.admin.KafkaAdminClient", fake.client)
        return fake

    return on


@pytest.mark.parametrize("brokers, replicas, in_sync", [(1, 1, "1"), (2, 2, "1"), (3, 3, "2"), (7, 3, "2")])
def test_every_topic_is_replicated_as_the_cluster_allows(cluster, brokers, replicas, in_sync):
    fake = cluster(brokers)
    admin.create_topics(Settings(topic_prefix="t."))
    assert fake.created and all(t.replication_factor == replicas for t in fake.created.values())
    assert all(t.topic_configs["min.insync.replicas"] == in_sync for t in fake.created.values())


def test_the_changelogs_are_never_replicated_once_on_a_cluster_of_three(cluster):
    fake = cluster(3)
    changelog = SimpleNamespace(get_topic_name=lambda: "t.wnnrec-user-wnn-changelog", partitions=4, config={})
    create_changelogs(
        Settings(topic_prefix="t."), SimpleNamespace(tables={"user-wnn": SimpleNamespace(changelog_topic=changelog)})
    )
    created = fake.created["t.wnnrec-user-wnn-changelog"]
    assert created.replication_factor == 3 and created.topic_configs["cleanup.policy"] == "compact"


def test_the_settings_choose_the_replication(cluster):
    fake = cluster(5)
    admin.create_topics(Settings(topic_prefix="t.", replication_factor=5, min_insync_replicas=3))
    assert {(t.replication_factor, t.topic_configs["min.insync.replicas"]) for t in fake.created.values()} == {(5, "3")}
    resolved = admin.with_cluster_replication(Settings())
    assert (resolved.replication_factor, resolved.min_insync_replicas) == (3, 2)


def test_an_in_sync_minimum_above_the_replicas_is_refused():
    with pytest.raises(ValueError, match="min_insync_replicas"):
        Settings(replication_factor=2, min_insync_replicas=3)
