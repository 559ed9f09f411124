"""Shared fixtures: a tiny synthetic catalogue for unit tests, and the real MovieLens-100K where a test needs it."""

from __future__ import annotations

import numpy as np
import pytest

from wnn.config import WNNConfig
from wnn.data import Dataset, DataError, default_data_dir, fetch_movielens_100k, load_dataset
from wnn.item_space import ItemSpace

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
        name="synthetic", users=users, items=items, ratings=ratings,
        timestamps=np.arange(n_ratings, dtype=np.int64) * 3600,
        user_ids=[str(u) for u in range(n_users)], item_ids=[str(i) for i in range(n_items)],
        item_titles=[f"item {i}" for i in range(n_items)], item_years=np.full(n_items, 1990, dtype=np.int32),
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
