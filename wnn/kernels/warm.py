"""Compile (or load from numba's on-disk cache) every kernel before the first real call, so that a worker's first
batch does not wait for the compiler.

>>> seconds = warm_up()
>>> seconds >= 0.0
True
"""

from __future__ import annotations

import time

import numpy as np


def warm_up() -> float:
    """Run every kernel once on a tiny network through the public paths; returns the seconds it took (the compile
    time on a fresh install, the cache load after)."""
    from wnn.contributions import learn_run
    from wnn.item_space import ItemSpace
    from wnn.recommender import WNNRecommender
    from wnn.user_codec import encode_segment

    start = time.perf_counter()
    space = ItemSpace()
    for i, genre in enumerate(("Drama", "Comedy", "Horror")):
        space.add_item(i, genres=(genre,), year=1990 + i)
    recommender = WNNRecommender(space=space)
    for event_id, (item, rating) in enumerate(((0, 4.0), (1, 2.0), (0, 5.0))):
        recommender.learn_one("warm", item, rating, ts=event_id, event_id=event_id)
    user = recommender.user("warm")
    user.predict_one(2)
    items, _ = user.score(ts=2, k=2)
    user.explain_list(items, ts=2)
    user.taste_shift()
    indices, times = np.array([space.index(item) for item in (2, 1, 0)], dtype=np.int64), np.arange(90, 93)
    learn_run(space, "run", recommender.user("run"), indices, np.array([3.0, 4.0, 5.0]), times, event_ids=times)
    recommender.forget("warm", 0)
    user.predict_one(2)
    for event_id in range(3, 80):  # a network long enough to keep its table
        recommender.learn_one("long", event_id % 3, 1.0 + event_id % 5, ts=event_id, event_id=event_id)
    user = recommender.user("long")
    user.predict_one(2)
    user.predict_all()
    user.score(ts=80, k=2)
    encode_segment(user.pair_log)
    return time.perf_counter() - start
