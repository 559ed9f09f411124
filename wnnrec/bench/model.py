"""``wnnrec bench model``: speed and size of the WNN, against River's BiasedMF measured in the same run.

``learn_predict_us`` is the best round's time per rating (predict, then learn). ``kernels_compile_s`` and
``kernels_cached_start_s`` are what the compiled kernels cost a process on its first start and on every later one
(:func:`kernel_start_times`). ``score_all_*`` ranks the whole catalogue for a user and takes the top 10;
``score_candidates_*`` ranks only the ``n_candidates`` globally strongest items, as the stream does;
``explain_top10_*`` splits that list's scores into their terms (what ``--list-explanations`` adds to a list
refresh).

Everything runs pinned to one core with BLAS threads limited to one. The two models replay the same ML-100K
stream (predict, then learn, per event) in alternating rounds, and each reports its best round, so that a noisy
neighbour hurts both alike.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from wnn.config import WNNConfig
from wnn.network import UserWNN
from wnn.rating_scale import RatingScale
from wnn.recommender import WNNRecommender
from wnnrec.baselines import RiverBiasedMF
from wnnrec.datasets import Dataset
from wnnrec.evaluation.models import WNNModel


def pin_to_one_core() -> int | None:
    """Pin this process to one CPU (the first allowed); returns it, or None where the OS does not allow it."""
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return cpu
    except (AttributeError, OSError):
        return None


def _stream_rate(make: Callable[[], Any], dataset: Dataset, n: int) -> tuple[float, Any]:
    users, items = dataset.users[:n].tolist(), dataset.items[:n].tolist()
    ratings, stamps = dataset.ratings[:n].tolist(), dataset.timestamps[:n].tolist()
    model = make()
    predict, learn = model.predict_one, model.learn_one
    start = time.perf_counter()
    for e in range(n):
        predict(users[e], items[e])
        learn(users[e], items[e], ratings[e], stamps[e], e)
    return n / (time.perf_counter() - start), model


def kernel_start_times() -> tuple[float, float]:
    """Seconds :func:`wnn.kernels.warm.warm_up` takes in a fresh process with an empty kernel cache (the compile of
    a first start) and in a second one that finds the cache (every later start)."""
    code = "from wnn.kernels.warm import warm_up; print(warm_up())"
    with tempfile.TemporaryDirectory(prefix="wnnrec-numba-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        first, cached = (
            float(
                subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout
            )
            for _ in range(2)
        )
    return first, cached


def _list_times(
    recommender: WNNRecommender, last_ts: float, samples: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Milliseconds to score a top 10 over every item, over the candidates only, and to explain that top 10, for
    ``samples`` users drawn with replacement."""
    rng = np.random.default_rng(seed)
    users = list(recommender.users)
    timings: dict[bool, list[float]] = {False: [], True: []}
    explain_timings = []
    for user in rng.choice(len(users), size=samples, replace=True):
        model = recommender.users[users[user]]
        for use_candidates in (False, True):
            start = time.perf_counter()
            items, _ = model.score(ts=last_ts, k=10, use_candidates=use_candidates)
            timings[use_candidates].append(time.perf_counter() - start)
        start = time.perf_counter()
        model.explain_list(items, ts=last_ts)
        explain_timings.append(time.perf_counter() - start)
    return np.array(timings[False]) * 1e3, np.array(timings[True]) * 1e3, np.array(explain_timings) * 1e3


def _state_sizes(recommender: WNNRecommender) -> dict[int, list[int]]:
    """Serialized bytes of a network of each user's first 10 and first 100 pairs (users with 100 or more)."""
    sizes: dict[int, list[int]] = {10: [], 100: []}
    for model in recommender.users.values():
        if model.n_pairs < 100:
            continue
        pairs = model.pairs()
        for size in sizes:
            fresh = UserWNN(recommender.space)
            for p in pairs[:size]:
                fresh.learn_one(p["item"], p["rating"], p["ts"], p["event_id"])
            sizes[size].append(fresh.nbytes)
    return sizes


def bench_model(
    dataset: Dataset,
    config: WNNConfig | None = None,
    rounds: int = 3,
    limit: int | None = None,
    score_samples: int = 2000,
    seed: int = 0,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the model benchmark; returns the JSON document (keys of MISSION.md plus context)."""
    cpu = pin_to_one_core()
    n = min(limit or dataset.n_ratings, dataset.n_ratings)
    wnn_rates, bmf_rates = [], []
    wnn_model: Any = None
    with threadpool_limits(limits=1):
        for r in range(rounds):
            rate, wnn_model = _stream_rate(lambda: WNNModel(dataset, config), dataset, n)
            wnn_rates.append(rate)
            bmf_rate, _ = _stream_rate(lambda: RiverBiasedMF(dataset.n_items), dataset, n)
            bmf_rates.append(bmf_rate)
            progress(f"round {r + 1}/{rounds}: wnn {rate:,.0f} ev/s, biasedmf {bmf_rate:,.0f} ev/s")

        recommender = wnn_model.recommender
        last_ts = float(dataset.timestamps[n - 1])
        all_ms, candidates_ms, explain_ms = _list_times(recommender, last_ts, score_samples, seed)
        sizes = _state_sizes(recommender)

    best_wnn, best_bmf = max(wnn_rates), max(bmf_rates)
    compile_s, cached_start_s = kernel_start_times()
    progress(f"kernels: {compile_s:.2f} s to compile on a first start, {cached_start_s:.2f} s from the cache")
    return {
        "events_per_s": best_wnn,
        "learn_predict_us": 1e6 / best_wnn,
        "kernels_compile_s": compile_s,
        "kernels_cached_start_s": cached_start_s,
        "biasedmf_events_per_s": best_bmf,
        "speed_ratio_vs_biasedmf": best_wnn / best_bmf,
        "score_all_p50_ms": float(np.percentile(all_ms, 50)),
        "score_all_p99_ms": float(np.percentile(all_ms, 99)),
        "score_candidates_p50_ms": float(np.percentile(candidates_ms, 50)),
        "score_candidates_p99_ms": float(np.percentile(candidates_ms, 99)),
        "explain_top10_p50_ms": float(np.percentile(explain_ms, 50)),
        "explain_top10_p99_ms": float(np.percentile(explain_ms, 99)),
        "state_bytes_at_10": float(np.median(sizes[10])) if sizes[10] else None,
        "state_bytes_at_100": float(np.median(sizes[100])) if sizes[100] else None,
        "rounds": {"wnn_events_per_s": wnn_rates, "biasedmf_events_per_s": bmf_rates},
        "n_events": n,
        "n_items_scored": recommender.space.n_items,
        "n_users_sized": len(sizes[100]),
        "cpu": cpu,
        "config": {
            field.name: str(value) if isinstance(value, RatingScale) else value
            for field in dataclasses.fields(WNNConfig)
            for value in [getattr(config or WNNConfig(), field.name)]
        },
    }
