"""Shared fixtures: a tiny synthetic catalogue for unit tests, the real MovieLens-100K where a test needs it, and
the real Kafka broker: KAFKA_BOOTSTRAP_SERVERS, else a testcontainers Kafka if a Docker daemon answers, else skip
locally. Under CI=true a missing broker is a failure, never a skip."""

from __future__ import annotations

import os

import numpy as np
import pytest

from wnn.config import WNNConfig
from wnn.item_space import ItemSpace
from wnn.pairs import ARENA
from wnnrec.datasets import DataError, Dataset, default_data_dir, fetch_movielens_100k, load_dataset

ARENA.poison_released = True  # a view of a released block reads wild values, not another user's pairs

GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi"]


def make_space(n_items: int = 12, config: WNNConfig | None = None) -> ItemSpace:
    """An item space with ``n_items`` items (ids 0..n-1) of varied genres and years."""
    space = ItemSpace(config or WNNConfig())
    for i in range(n_items):
        space.add_item(i, genres=(GENRES[i % len(GENRES)], GENRES[(i + 1) % len(GENRES)]), year=1950 + 4 * i)
    return space


def synthetic_dataset(n_users: int = 40, n_items: int = 30, n_ratings: int = 1500, seed: int = 0) -> Dataset:
    """A small rating stream with structure: users like either even or odd items."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_ratings).astype(np.int32)
    items = rng.integers(0, n_items, n_ratings).astype(np.int32)
    taste = (users % 2) == (items % 2)
    ratings = np.clip(np.where(taste, 4.3, 2.3) + rng.normal(0, 0.6, n_ratings), 1, 5).round().astype(np.float32)
    return Dataset(
        name="synthetic",
        users=users,
        items=items,
        ratings=ratings,
        timestamps=np.arange(n_ratings, dtype=np.int64) * 3600,
        user_ids=[str(u) for u in range(n_users)],
        item_ids=[str(i) for i in range(n_items)],
        item_titles=[f"item {i}" for i in range(n_items)],
        item_years=np.full(n_items, 1990, dtype=np.int32),
        item_genres=[(GENRES[i % len(GENRES)],) for i in range(n_items)],
    )


@pytest.fixture
def space() -> ItemSpace:
    return make_space()


@pytest.fixture(scope="session")
def movielens() -> Dataset:
    """The real ML-100K, fetched into the cache on first use (PyPI is reachable in CI)."""
    try:
        return load_dataset()
    except DataError:
        fetch_movielens_100k(default_data_dir(), progress=False)
        return load_dataset()


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def _reachable(bootstrap: str) -> bool:
    from stream.settings import Settings
    from wnnrec.run import broker_answers

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
    message = (
        "no Kafka broker: set KAFKA_BOOTSTRAP_SERVERS (deploy/kafka/start prints it) or run a Docker daemon "
        "for testcontainers"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def learn_many(model, events):
    """Learn ``(item, rating, ts, event_id)`` tuples in order; returns the model, for chaining."""
    for item, rating, ts, event_id in events:
        model.learn_one(item, rating, ts, event_id)
    return model
