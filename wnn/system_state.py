"""Everything a recommender system holds and shows, keyed by user and item ids, so that two systems can be compared.

The unlearning contract (docs/design.md, "The unlearning contract") says: once a forget has completed, the whole
system equals one that learned the same stream without the forgotten ratings. :func:`snapshot` is "the whole
system": every user's stored pairs and everything derived from them (residuals, item codes read, Q states, tables,
taste window, drift signal), every listable item's statistics, code and addresses, the next-item counts, the
candidate order, and optionally every predicted rating and like probability (an array per user, in ``item_order``)
and every top-10. Dense indices are internal (they depend on the order items were first seen), so everything is
keyed by the callers' ids. :func:`digest` hashes a snapshot.

>>> from wnn.recommender import WNNRecommender
>>> a, b = WNNRecommender(), WNNRecommender()
>>> a.learn_one("u", "x", 4.0, ts=0, event_id=1); a.learn_one("u", "y", 2.0, ts=1, event_id=2)
>>> b.learn_one("u", "y", 2.0, ts=1, event_id=2)
>>> _ = a.forget("u", 1)
>>> digest(snapshot(a.space, a.users)) == digest(snapshot(b.space, b.users))
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np

from wnn.item_stats import ItemPartial

if TYPE_CHECKING:
    from wnn.item_space import ItemSpace
    from wnn.network import UserWNN


def _canonical(value: Any) -> Any:
    """A msgpack-able, order-defined form of a snapshot value."""
    if isinstance(value, np.ndarray):
        return [str(value.dtype), list(value.shape), value.tobytes()]
    if isinstance(value, ItemPartial):
        return _canonical(value.as_tuple())
    if isinstance(value, dict):
        return [[_canonical(k), _canonical(v)] for k, v in sorted(value.items(), key=lambda kv: repr(kv[0]))]
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float):
        return ["f", value.hex()]
    if isinstance(value, int) and not -(1 << 63) <= value < (1 << 64):
        return ["i", str(value)]
    return value


def digest(value: Any) -> str:
    """A short hash of a snapshot (or any part of one); equal snapshots, and only those, give equal digests."""
    return hashlib.blake2b(msgpack.packb(_canonical(value), use_bin_type=True), digest_size=12).hexdigest()


def snapshot(
    space: ItemSpace, users: Mapping[Hashable, UserWNN], predictions: bool = True, lists_at: float | None = None
) -> dict[str, Any]:
    """The state by id of an item space and users' networks over it (see the module docstring). ``predictions`` adds
    every user's predicted rating and like probability of every listable item; ``lists_at`` adds every user's top-10
    at that event time."""
    listable = [(space.key(int(i)), int(i)) for i in np.flatnonzero(space.listable())]
    listable.sort(key=lambda pair: repr(pair[0]))
    item_keys = [key for key, _ in listable]
    order = np.array([i for _, i in listable], dtype=np.int64)
    items = {
        key: [
            space.statistics(i),
            int(space.dynamic_codes[i]),
            space.addresses[i].tolist(),
            int(space.channels[i]),
            space.baseline(i),
            float(space.log2_popularity[i]),
        ]
        for key, i in listable
    }
    next_items = {}
    for previous in range(space.n_items):
        followers, counts = space.next_items.successors(previous)
        for following, count in zip(followers.tolist(), counts.tolist()):
            next_items[(space.key(previous), space.key(following))] = count
    state: dict[str, Any] = {
        "item_order": item_keys,
        "items": items,
        "next_items": next_items,
        "candidates": [space.key(int(i)) for i in space.candidate_order().top(len(space.candidate_order()))],
        "users": {},
    }
    for user, model in users.items():
        if not model.n_pairs:  # a user whose every rating was forgotten holds nothing
            continue
        entry = {"pairs": model.to_bytes(), "derived": model.derived(), "taste_shift": model.taste_shift()}
        if predictions:  # in the order of state["item_order"]
            entry["predictions"] = np.stack(model.predict_all(order))
        if lists_at is not None:
            entry["top10"] = model.score(ts=lists_at, k=10)[0]
        state["users"][user] = entry
    return state


def differences(a: dict[str, Any], b: dict[str, Any], path: str = "") -> list[str]:
    """Where two snapshots differ, as readable paths (at most a few per branch), for test failures and audits."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=repr):
            if key not in a or key not in b:
                out.append(f"{path}/{key!r}: only in {'first' if key in a else 'second'}")
            else:
                out.extend(differences(a[key], b[key], f"{path}/{key!r}"))
            if len(out) > 20:
                break
        return out
    return [] if digest(a) == digest(b) else [f"{path}: {a!r:.120} != {b!r:.120}"]
