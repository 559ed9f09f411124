"""Compile (or load from numba's on-disk cache) every kernel before the first real call, so that a worker's first
batch does not wait for the compiler.

>>> seconds = warm_up()
>>> seconds >= 0.0
True
"""

from __future__ import annotations

import time


def warm_up() -> float:
    """Run every kernel once on a tiny network through the public paths; returns the seconds it took (the compile
    time on a fresh install, the cache load after)."""
    from wnn.item_space import ItemSpace
    from wnn.network import UserWNN

    start = time.perf_counter()
    space = ItemSpace()
    for i, genre in enumerate(("Drama", "Comedy", "Horror")):
        space.add_item(i, genres=(genre,), year=1990 + i)
    user = UserWNN(space)
    space.update(0, 4.0, centred=0.5, user="warm", ts=0)
    user.learn_one(0, 4.0, ts=0, event_id=0)
    user.learn_one(1, 2.0, ts=1, event_id=1)
    user.predict_one(2)
    items, _ = user.score(ts=2, k=2)
    user.explain_list(items, ts=2)
    user.taste_shift()
    return time.perf_counter() - start
