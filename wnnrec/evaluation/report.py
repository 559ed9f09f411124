"""Evaluation output: the JSON document docs/results.md describes and an accuracy-versus-ratings plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from wnnrec.evaluation.metrics import PRIOR_BUCKETS


def write_json(path: str | Path, protocol: str, dataset: str, rows: list[dict[str, Any]], **extra: Any) -> None:
    """``{"protocol", "dataset", "results": [{"model", ...}], ...extra}``; NaN becomes null."""
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()} for row in rows]
    doc = {"protocol": protocol, "dataset": dataset, "results": clean, **extra}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def plot(path: str | Path, protocol: str, rows: list[dict[str, Any]]) -> None:
    """One line per model: within-1 and like accuracy against N (per-user split), or like-accuracy and MAE against
    prior ratings (prequential)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if protocol == "per-user-split":
        key, xs_of, panels = "n_ratings", None, (("within1_acc", "within ±1 star"), ("like_acc", "like accuracy"))
    else:
        key, panels = "prior_ratings", (("like_acc", "like accuracy"), ("mae", "MAE"))
        order = [label for label, _, _ in PRIOR_BUCKETS]
        xs_of = {label: i for i, label in enumerate(order)}
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels) + 2.2, 4.4))
    models = list(dict.fromkeys(r["model"] for r in rows if key in r and "subset" not in r))
    markers = "osD^v<>ph*Xd"
    styles = ["-", "--", "-.", ":"]
    for ax, (metric, title) in zip(axes, panels):
        for i, model in enumerate(models):
            pts = [
                (r[key], r[metric])
                for r in rows
                if r["model"] == model and key in r and "subset" not in r and r.get(metric) is not None
            ]
            if not pts:
                continue
            xs = [xs_of[x] if xs_of else x for x, _ in pts]
            # Marker and dash pattern both differ, so that close lines (wnn and its ablations) stay apart.
            ax.plot(
                xs,
                [y for _, y in pts],
                marker=markers[i % len(markers)],
                linestyle=styles[i % len(styles)],
                label=model,
                linewidth=2.4 if model == "wnn" else 1.2,
                markersize=5,
                alpha=0.9,
            )
        if xs_of:
            ax.set_xticks(range(len(xs_of)), list(xs_of))
            ax.set_xlabel("ratings the user had before the event")
        else:
            ns = sorted({r[key] for r in rows if key in r})
            ax.set_xscale("log")
            ax.set_xticks(ns, [str(n) for n in ns])
            ax.minorticks_off()
            ax.set_xlabel("N ratings per user (80% train)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    # One legend, outside the axes: inside it covered the lines.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="center right", frameon=False)
    fig.suptitle(f"{protocol} on MovieLens")
    fig.tight_layout(rect=(0, 0, 1 - 2.0 / (6 * len(panels) + 2.2), 1))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
