"""``wnnrec audit unlearning``: after a forget, is the whole system the one that never saw the rating (or the user)?

Each trial forgets one random rating through the public API (:meth:`WNNRecommender.forget`) from system A and builds
system B that learned the same ratings without it, in the same order; with ``forget="user"`` it erases the user of
that rating instead (:meth:`WNNRecommender.forget_user`: every rating of theirs), and B never sees the user. Then it
compares *every* user and the whole item side (:mod:`wnn.system_state`): the stored bytes, a digest of every derived
value (tables, Q states, taste windows, drift signals, item statistics, codes, addresses, next-item counts,
candidates), every user's top-10 and the predicted rating of every listable item for every user.

Two protocols:

* ``prefix``: A learns the first ``prefix`` ratings (time order) and forgets one of them; B learns them without it.
* ``full-stream``: A learns all of ML-100K and forgets a random rating (or user); B restarts from a checkpoint of A's
  run taken before that rating (before the user's first rating), a copy of the system after the first
  ``k * checkpoint_every`` ratings, and learns the rest without it. It also times the forget (the public call, after
  which every read answers as B would; and the eager reconciliation of every user it changed) and, for the first
  trials, the cost of replaying the other ratings from nothing: the comparison Amnesia and caboose report.
"""

from __future__ import annotations

import copy
import gc
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from tqdm import tqdm

from wnn.kernels.warm import warm_up
from wnn.recommender import WNNRecommender
from wnn.system_state import digest, snapshot
from wnnrec.datasets import Dataset
from wnnrec.evaluation.models import WNNModel

PROTOCOLS = ("prefix", "full-stream")
#: What each trial forgets: one rating, or every rating of its user.
TARGETS = ("rating", "user")


def _learn(model: WNNModel, dataset: Dataset, events: np.ndarray, skip: frozenset[int] = frozenset()) -> WNNModel:
    users, items = dataset.users[events].tolist(), dataset.items[events].tolist()
    ratings, stamps = dataset.ratings[events].tolist(), dataset.timestamps[events].tolist()
    for user, item, rating, ts, e in zip(users, items, ratings, stamps, events.tolist()):
        if e not in skip:
            model.learn_one(user, item, rating, ts, e)
    return model


def compare(a: WNNRecommender, b: WNNRecommender, at: float) -> dict[str, Any]:
    """One trial's verdicts and prediction differences, over every user of either system."""
    sa = snapshot(a.space, a.users, predictions=True, lists_at=at)
    sb = snapshot(b.space, b.users, predictions=True, lists_at=at)
    users = sorted(set(sa["users"]) | set(sb["users"]), key=repr)
    same_users = set(sa["users"]) == set(sb["users"])
    ua, ub = sa["users"], sb["users"]
    identical_bytes = same_users and all(ua[u]["pairs"] == ub[u]["pairs"] for u in users)
    identical_top10 = same_users and all(ua[u]["top10"] == ub[u]["top10"] for u in users)
    parts = []
    for u in users:
        if u in ua and u in ub:
            ra, rb = ua[u]["predictions"][0], ub[u]["predictions"][0]
            if sa["item_order"] == sb["item_order"]:
                parts.append(np.abs(ra - rb))
            else:  # align by item id; an item listable in one system only counts as a difference
                da, db = dict(zip(sa["item_order"], ra.tolist())), dict(zip(sb["item_order"], rb.tolist()))
                parts.append(
                    np.array([abs(da[i] - db[i]) if i in da and i in db else np.inf for i in set(da) | set(db)])
                )
        else:  # a user only one system holds: every prediction counts as different
            parts.append(np.full(len((ua.get(u) or ub[u])["predictions"][0]), np.inf))
    diffs = np.concatenate(parts) if parts else np.zeros(0)
    identical_predictions = (
        same_users
        and sa["item_order"] == sb["item_order"]
        and all(np.array_equal(ua[u]["predictions"], ub[u]["predictions"]) for u in users)
    )
    for side in (sa, sb):
        for entry in side["users"].values():
            entry.pop("predictions"), entry.pop("top10")
    return {
        "bytes": identical_bytes,
        "derived": digest(sa) == digest(sb),
        "top10": identical_top10,
        "predictions": identical_predictions,
        "diffs": diffs,
        "users": len(users),
    }


def _learn_with_checkpoints(
    dataset: Dataset, order: np.ndarray, checkpoint_every: int, progress: bool
) -> tuple[WNNModel, dict[int, WNNModel]]:
    """One run of system A over the stream ``order``, with a copy of it every ``checkpoint_every`` ratings (by the
    position it starts from); A ends with every user read up to date, so each copy of it starts so."""
    learned, checkpoints = WNNModel(dataset), {}
    for start in tqdm(
        range(0, len(order), checkpoint_every), desc="learning the stream", unit="checkpoint", disable=not progress
    ):
        checkpoints[start] = copy.deepcopy(learned)
        _learn(learned, dataset, order[start : start + checkpoint_every])
    for model in learned.recommender.users.values():
        model.reconcile()
    # A deep copy's arrays are writeable where the original's constants are read-only, so numba loads a second
    # specialization of some kernels (10 ms; compiles it, about a second, on a fresh install) the first time a copy
    # forgets and its users catch up: the audit's start-up cost, paid here.
    spare = copy.deepcopy(learned).recommender
    spare_user, spare_model = next(iter(spare.users.items()))
    spare.forget(spare_user, spare_model.pairs()[0]["event_id"])
    for model in spare.users.values():
        model.reconcile()
    return learned, checkpoints


def _forgetting(forget: str, user: int, target: int) -> Callable[[WNNRecommender], bool]:
    """The trial's forget through the public API: one rating, or the user; whether it found something."""
    if forget == "user":
        return lambda recommender: bool(recommender.forget_user(user))
    return lambda recommender: recommender.forget(user, target)


def _timed_forget(forgetting: WNNModel, forget: Callable[[WNNRecommender], bool]) -> tuple[float, float]:
    """Apply ``forget``; milliseconds of the call, and of bringing every user up to date after it."""
    for model in forgetting.recommender.users.values():  # up to date before the forget, so the timing below
        model.reconcile()  # is the forget's own cost
    # And the garbage of this audit's deep copies collected: a full collection over its dozen copies of the
    # system takes 100-150 ms, and one that fell inside the timed forget measured the audit, not the forget.
    gc.collect()
    start = time.perf_counter()
    assert forget(forgetting.recommender)
    forget_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    for model in forgetting.recommender.users.values():
        model.reconcile()
    return forget_ms, (time.perf_counter() - start) * 1e3


def audit_unlearning(
    dataset: Dataset,
    trials: int = 1000,
    protocol: str = "prefix",
    prefix: int = 2000,
    seed: int = 0,
    checkpoint_every: int = 10_000,
    replays_timed: int = 3,
    progress: bool = True,
    forget: str = "rating",
) -> dict[str, Any]:
    """Run the trials; returns the JSON document (keys in the module docstring and docs/results.md)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    if forget not in TARGETS:
        raise ValueError(f"unknown forget target {forget!r}; choose from {', '.join(TARGETS)}")
    warm_up()  # the kernels' compile (or cache load) is a start-up cost, not a forget's
    order = np.argsort(dataset.timestamps, kind="stable")
    if protocol == "prefix":
        order = order[:prefix]
    at = float(dataset.timestamps[order].max())
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(order), size=trials, replace=trials > len(order))

    checkpoints: dict[int, WNNModel] = {}
    learned = None
    if protocol == "full-stream":
        learned, checkpoints = _learn_with_checkpoints(dataset, order, checkpoint_every, progress)

    verdicts = {"bytes": 0, "derived": 0, "top10": 0, "predictions": 0}
    maxima, samples, forget_ms, reconcile_ms, replay_ms, rebuild_ms = [], [], [], [], [], []
    for trial, position in enumerate(
        tqdm(picks.tolist(), desc=f"unlearning audit ({protocol}, {forget})", unit="trial", disable=not progress)
    ):
        target = int(order[position])
        user = int(dataset.users[target])
        if forget == "user":  # every rating of the user that A learned; B restarts before the first of them
            theirs = np.flatnonzero(dataset.users[order] == user)
            skip, position = frozenset(order[theirs].tolist()), int(theirs[0])
        else:
            skip = frozenset([target])
        forgetting = copy.deepcopy(learned) if learned is not None else _learn(WNNModel(dataset), dataset, order)
        forget_time, reconcile_time = _timed_forget(forgetting, _forgetting(forget, user, target))
        forget_ms.append(forget_time)
        reconcile_ms.append(reconcile_time)
        start = time.perf_counter()
        if learned is None:
            never = _learn(WNNModel(dataset), dataset, order, skip=skip)
        else:
            base = (position // checkpoint_every) * checkpoint_every
            never = _learn(copy.deepcopy(checkpoints[base]), dataset, order[base:], skip=skip)
        rebuild_ms.append((time.perf_counter() - start) * 1e3)
        if learned is not None and trial < replays_timed:
            start = time.perf_counter()
            _learn(WNNModel(dataset), dataset, order, skip=skip)
            replay_ms.append((time.perf_counter() - start) * 1e3)
        result = compare(forgetting.recommender, never.recommender, at)
        for key in verdicts:
            verdicts[key] += result[key]
        diffs = result["diffs"]
        maxima.append(float(diffs.max()) if len(diffs) else 0.0)
        samples.append(rng.choice(diffs, size=min(len(diffs), 20_000), replace=False) if len(diffs) else diffs)

    pooled = np.concatenate(samples) if samples else np.zeros(1)
    doc = {
        "protocol": protocol,
        "forget": forget,
        "trials": trials,
        "seed": seed,
        "ratings_learned": len(order),
        "identical_bytes_share": verdicts["bytes"] / trials,
        "identical_derived_state_share": verdicts["derived"] / trials,
        "identical_top10_share": verdicts["top10"] / trials,
        "identical_predictions_share": verdicts["predictions"] / trials,
        "max_abs_diff": float(max(maxima)) if maxima else 0.0,
        "p99_abs_diff": float(np.percentile(pooled, 99)),
        "compared": "every user of both systems; every listable item's predicted rating for each (p99 over a "
        "sample of up to 20,000 differences per trial)",
        "forget_p50_ms": float(np.percentile(forget_ms, 50)),
        "forget_p99_ms": float(np.percentile(forget_ms, 99)),
        "reconcile_all_users_p50_ms": float(np.percentile(reconcile_ms, 50)),
        "reconcile_all_users_p99_ms": float(np.percentile(reconcile_ms, 99)),
    }
    return doc | _rebuild_keys(protocol, prefix, checkpoint_every, rebuild_ms, replay_ms)


def _rebuild_keys(
    protocol: str, prefix: int, checkpoint_every: int, rebuild_ms: list[float], replay_ms: list[float]
) -> dict[str, Any]:
    """The document's keys on building system B, which each protocol does its own way."""
    rebuild_p50 = float(np.percentile(rebuild_ms, 50))
    if protocol == "prefix":
        return {"prefix": prefix, "relearn_without_p50_ms": rebuild_p50}
    return {
        "checkpoint_every": checkpoint_every,
        "replay_from_checkpoint_p50_ms": rebuild_p50,
        "replay_without_ms": float(np.median(replay_ms)) if replay_ms else None,
        "replays_timed": len(replay_ms),
    }
