"""The report of one ``wnnrec run``: a summary a person can read, the same as JSON, and plots, from what came out.

Everything is computed from the outputs the run actually read back (the drift records and lists on the topics, the
dead letters) and the send and arrival times it noted, never from the worker's own counters.

:func:`summarize` makes the summary dict, :func:`summary_text` the lines printed at the end of the run,
:func:`write_report` the folder: ``summary.json``, ``report.md`` and four PNGs.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from wnn.rating_scale import RatingScale
from wnnrec.datasets import Dataset
from wnnrec.evaluation.metrics import PRIOR_BUCKETS, prior_bucket, rating_metrics

#: The plots of a report folder, by file name.
PLOTS = {
    "mae_over_time.png": "MAE of the stream's pre-learning predictions over event time",
    "drift_flags.png": "Taste-window restarts (drift flags) over event time",
    "cold_start.png": "MAE and like-accuracy by the user's number of ratings before the event",
    "throughput_latency.png": "Lists per second and send-to-list latency over the run",
}


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def summarize(
    records: list[dict[str, Any]],
    dead_letters: list[dict[str, Any]],
    n_replayed: int,
    covered: int,
    lists: int,
    latencies_ms: list[float],
    seconds: float,
    evaluate_mae: float | None,
    embedded: bool = False,
) -> dict[str, Any]:
    """The run's numbers. ``records`` are the per-rating drift records read back (each with its ``user``),
    ``latencies_ms`` the send-to-first-list time of each covered rating, ``seconds`` from the first send to the last
    list, ``evaluate_mae`` what ``wnnrec evaluate`` (in process, same ratings) gives, for comparison."""
    errors = [abs(r["error"]) for r in records]
    flagged = Counter(r["user"] for r in records if r["drift"])
    return {
        "mode": "embedded, no Kafka" if embedded else "Kafka",
        "ratings_replayed": n_replayed,
        "ratings_covered_by_lists": covered,
        "lists_emitted": lists,
        "dead_letters": len(dead_letters),
        "dead_letters_by_reason": dict(Counter(d.get("reason", "?").split(":")[0] for d in dead_letters)),
        "drift_records": len(records),
        "drift_flags": sum(flagged.values()),
        "users_flagged": len(flagged),
        "most_flagged_users": dict(flagged.most_common(5)),
        "stream_mae": round(float(np.mean(errors)), 4) if errors else None,
        "evaluate_mae": None if evaluate_mae is None else round(evaluate_mae, 4),
        "ratings_per_s": round(covered / seconds, 1) if seconds > 0 else None,
        "latency_p50_ms": _percentile(latencies_ms, 50),
        "latency_p99_ms": _percentile(latencies_ms, 99),
        "seconds": round(seconds, 1),
    }


def prequential_mae(dataset: Dataset, n: int) -> float:
    """What ``wnnrec evaluate`` gives on the same first ``n`` ratings, in process (for the summary's comparison)."""
    from wnnrec.evaluation.models import WNNModel
    from wnnrec.evaluation.prequential import replay as prequential

    run = prequential(WNNModel(dataset), dataset, limit=n, rank=False, progress=False)
    return float(np.abs(run["predicted"] - run["actual"]).mean())


def summary_text(summary: dict[str, Any]) -> str:
    """The summary in a few lines."""
    s = summary
    lines = [
        f"wnnrec run ({s['mode']}): {s['ratings_replayed']:,} ratings in -> {s['ratings_covered_by_lists']:,} "
        f"covered by {s['lists_emitted']:,} lists, {s['dead_letters']} dead letters",
        f"  MAE before learning, in the stream: {s['stream_mae']}"
        + (f" (wnnrec evaluate on the same ratings: {s['evaluate_mae']})" if s["evaluate_mae"] is not None else ""),
        f"  drift flags: {s['drift_flags']} over {s['users_flagged']} users",
    ]
    if s["ratings_per_s"] is not None:
        lines.append(
            f"  {s['ratings_per_s']:,.0f} ratings/s end to end; send-to-list latency p50 "
            f"{s['latency_p50_ms']} ms, p99 {s['latency_p99_ms']} ms (the replay runs at full speed beside "
            "the worker, so latency here includes queueing)"
        )
    return "\n".join(lines)


def _cold_start(records: list[dict[str, Any]], scale: RatingScale) -> list[dict[str, Any]]:
    by_bucket: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_bucket[prior_bucket(record["n_ratings"])].append(record)
    rows = []
    for label, _, _ in PRIOR_BUCKETS:
        mine = by_bucket.get(label)
        if mine:
            errors = [abs(r["error"]) for r in mine]
            predicted, actual = np.array([r["predicted"] for r in mine]), np.array([r["rating"] for r in mine])
            rows.append(
                {
                    "prior_ratings": label,
                    "n": len(mine),
                    "mae": round(float(np.mean(errors)), 4),
                    "like_acc": round(rating_metrics(predicted, actual, scale)["like_acc"], 4),
                }
            )
    return rows


def _by_day(records: list[dict[str, Any]], value: Callable[[dict[str, Any]], float]) -> tuple[np.ndarray, np.ndarray]:
    days = np.array([r["event_time"] // 86400 for r in records], dtype=np.int64)
    values = np.array([value(r) for r in records], dtype=np.float64)
    if not len(days):
        return days, values
    unique, inverse = np.unique(days, return_inverse=True)
    return unique - unique[0], np.bincount(inverse, weights=values) / np.maximum(np.bincount(inverse), 1)


def _plots(
    folder: Path,
    records: list[dict[str, Any]],
    cold: list[dict[str, Any]],
    arrivals: list[float],
    latencies: list[tuple[float, float]],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / name, dpi=100)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 3.6))
    days, mae = _by_day(records, lambda r: abs(r["error"]))
    ax.plot(days, mae, lw=1)
    ax.set(xlabel="days since the first rating (event time)", ylabel="MAE that day", title=PLOTS["mae_over_time.png"])
    ax.grid(alpha=0.3)
    save(fig, "mae_over_time.png")

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    days, flags = _by_day(records, lambda r: float(r["drift"]))
    top.plot(days, flags, lw=1)
    top.set(ylabel="share of ratings flagged", title=PLOTS["drift_flags.png"])
    per_user = Counter(r["user"] for r in records if r["drift"])
    first_day = min((r["event_time"] for r in records), default=0) // 86400
    for user, _ in per_user.most_common(5):
        times = sorted((r["event_time"] // 86400 - first_day) for r in records if r["user"] == user and r["drift"])
        bottom.step(times, np.arange(1, len(times) + 1), where="post", label=f"user {user}")
    bottom.set(xlabel="days since the first rating (event time)", ylabel="flags so far")
    if per_user:
        bottom.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    save(fig, "drift_flags.png")

    fig, ax = plt.subplots(figsize=(8, 3.6))
    labels = [row["prior_ratings"] for row in cold]
    ax.plot(labels, [row["mae"] for row in cold], marker="o", label="MAE")
    ax.plot(labels, [row["like_acc"] for row in cold], marker="s", label="like-accuracy")
    ax.set(xlabel="ratings the user had before the event", title=PLOTS["cold_start.png"])
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(alpha=0.3)
    save(fig, "cold_start.png")

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    if arrivals:
        start = min(min(arrivals), min((s for s, _ in latencies), default=min(arrivals)))
        seconds = np.array(arrivals) - start
        width = max(0.05, float(seconds.max()) / 60)  # about 60 points, whatever the run's length
        counts = np.bincount((seconds / width).astype(np.int64))
        top.plot(np.arange(len(counts)) * width, counts / width, marker=".", lw=1)
        sent = np.array([s for s, _ in latencies]) - start
        lat = np.array([ms for _, ms in latencies])
        buckets = (sent / width).astype(np.int64)
        xs = np.unique(buckets)
        for q, style in ((50, "-"), (99, "--")):
            bottom.plot(
                xs * width, [np.percentile(lat[buckets == x], q) for x in xs], style, marker=".", lw=1, label=f"p{q}"
            )
        bottom.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    top.set(ylabel="ratings covered per second", title=PLOTS["throughput_latency.png"])
    bottom.set(xlabel="seconds since the first send", ylabel="send-to-list latency (ms)")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    save(fig, "throughput_latency.png")


def write_report(
    folder: str | Path,
    summary: dict[str, Any],
    records: list[dict[str, Any]],
    arrivals: list[float],
    latencies: list[tuple[float, float]],
    scale: RatingScale,
) -> Path:
    """Write ``summary.json``, ``report.md`` and the PNGs of :data:`PLOTS` into ``folder``. ``arrivals`` are the
    arrival times of the lists, ``latencies`` (send time, ms) per covered rating, ``scale`` the ratings' scale (for
    the like accuracy)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cold = _cold_start(records, scale)
    summary = {**summary, "cold_start": cold}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _plots(folder, records, cold, arrivals, latencies)
    table = "\n".join(f"| {row['prior_ratings']} | {row['n']:,} | {row['mae']} | {row['like_acc']} |" for row in cold)
    images = "\n\n".join(f"![{title}]({name})" for name, title in PLOTS.items())
    (folder / "report.md").write_text(f"""# wnnrec run

```
{summary_text(summary)}
```

## Cold start: accuracy by the user's ratings so far

| ratings before | events | MAE | like-accuracy |
|---|---|---|---|
{table}

## Plots

{images}

The numbers come from the drift records and lists the run read back from its topics; `summary.json` has them all.
""")
    return folder
