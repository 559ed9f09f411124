"""``wnnrec evaluate``: an evaluation protocol with the WNN, its ablations and the baselines."""

from __future__ import annotations

import argparse
from typing import Any

from wnnrec.cli.arguments import Subcommands, add_command, add_data_arg, add_json_arg, add_quiet_arg, csv_of

PROTOCOLS = ("prequential", "per-user-split")


def register(subcommands: Subcommands) -> None:
    ev = add_command(
        subcommands,
        "evaluate",
        evaluate,
        help="run an evaluation protocol with the WNN, its ablations and the baselines",
        description="Prequential: replay every rating in time order, predict then learn; with --implicit, only the "
        "likes, as implicit events without stars. Per-user split: the paper's protocol, N ratings per user, 80% train.",
    )
    ev.add_argument("--protocol", choices=PROTOCOLS, required=True)
    add_json_arg(ev)
    ev.add_argument("--plot", metavar="PNG", default=None, help="also draw accuracy against number of ratings")
    add_data_arg(ev)
    ev.add_argument(
        "--models",
        type=csv_of(str),
        default=None,
        help="comma-separated model names (default: all of the protocol's models)",
    )
    ev.add_argument("--limit", type=int, default=None, help="prequential: only the first N events")
    ev.add_argument("--no-rank", action="store_true", help="prequential: skip HR@10/NDCG@10 (much faster)")
    ev.add_argument(
        "--implicit",
        action="store_true",
        help="prequential: replay only the likes (ratings at or above the scale's like threshold), each as a unary "
        "implicit event learned as the scale's highest rating, and report HR@10/NDCG@10 of each next liked item "
        "(ranked before it is learned, the user's earlier items left out); no rating metrics. --limit counts "
        "these events. Default models: wnn, popularity, sequence (what followed the user's last item in everyone's "
        "sequences)",
    )
    ev.add_argument(
        "--drift-injection",
        type=float,
        default=None,
        metavar="FRACTION",
        help="prequential: invert the later ratings (r -> 6-r, after each one's own time midpoint) of "
        "this share of the users with 60+ ratings, and add rows for those changed ratings "
        "(subset=flipped, by since_flip) and for all other events (subset=stable)",
    )
    ev.add_argument("--drift-seed", type=int, default=0, help="which users --drift-injection flips (default 0)")
    ev.add_argument("--ns", type=csv_of(int), default=None, help="per-user split: N values (default 5,10,25,100,200)")
    ev.add_argument("--users", type=int, default=250, help="per-user split: users drawn per N (default 250)")
    ev.add_argument("--repeats", type=int, default=3, help="per-user split: independent draws pooled (default 3)")
    ev.add_argument("--seed", type=int, default=0)
    add_quiet_arg(ev)


def evaluate(args: argparse.Namespace) -> int:
    from wnnrec.datasets import load_dataset
    from wnnrec.evaluation import (
        IMPLICIT_MODELS,
        PREQUENTIAL_MODELS,
        SPLIT_MODELS,
        run_implicit,
        run_per_user_split,
        run_prequential,
    )
    from wnnrec.evaluation.models import MODEL_NAMES
    from wnnrec.evaluation.per_user_split import DEFAULT_NS
    from wnnrec.evaluation.report import plot, write_json

    if args.drift_injection is not None and args.protocol != "prequential":
        raise SystemExit("--drift-injection works with --protocol prequential only")
    refused = implicit_conflict(args) if args.implicit else None
    if refused:
        raise SystemExit(f"wnnrec evaluate: --implicit {refused}")
    dataset = load_dataset(args.data)
    progress = not args.quiet
    unknown = [name for name in args.models or () if name not in MODEL_NAMES]
    if unknown:
        raise SystemExit(
            f"wnnrec evaluate: unknown model {', '.join(map(repr, unknown))}; choose from {', '.join(MODEL_NAMES)}"
        )
    extra: dict[str, Any]
    if args.implicit:
        rows = run_implicit(dataset, args.models or list(IMPLICIT_MODELS), limit=args.limit, progress=progress)
        n_likes = int((dataset.ratings >= dataset.scale.like_threshold).sum())
        extra = {"implicit": True, "n_events": min(args.limit or n_likes, n_likes)}
    elif args.protocol == "prequential":
        models = args.models or list(PREQUENTIAL_MODELS)
        marks = None
        extra = {"n_events": min(args.limit or dataset.n_ratings, dataset.n_ratings)}
        if args.drift_injection is not None:
            from wnnrec.evaluation.drift_injection import inject_drift

            try:
                dataset, marks = inject_drift(dataset, args.drift_injection, args.drift_seed)
            except ValueError as exc:
                raise SystemExit(f"--drift-injection: {exc}") from None
            extra.update(
                drift_injection=args.drift_injection, drift_seed=args.drift_seed, flipped_users=len(marks.flipped_users)
            )
        rows = run_prequential(dataset, models, limit=args.limit, rank=not args.no_rank, progress=progress, drift=marks)
    else:
        models = args.models or list(SPLIT_MODELS)
        ns = args.ns or list(DEFAULT_NS)
        rows = run_per_user_split(
            dataset, models, ns=ns, n_users=args.users, repeats=args.repeats, seed=args.seed, progress=progress
        )
        extra = {"n_users": args.users, "repeats": args.repeats, "seed": args.seed}
    print_rows(rows)
    if args.json is not None:
        write_json(args.json, args.protocol, dataset.name, rows, rating_scale=str(dataset.scale), **extra)
        print(f"wrote {args.json}")
    if args.plot:
        plot(args.plot, args.protocol, rows)
        print(f"wrote {args.plot}")
    return 0


def implicit_conflict(args: argparse.Namespace) -> str | None:
    """Why ``--implicit`` cannot go with the other flags given, or None: it is a prequential replay that only
    ranks."""
    if args.protocol != "prequential":
        return "works with --protocol prequential only (a per-user split predicts ratings)"
    if args.drift_injection is not None:
        return "cannot go with --drift-injection (it inverts ratings; implicit events have none)"
    if args.no_rank:
        return "cannot go with --no-rank (ranking is all it measures)"
    if args.plot:
        return "cannot go with --plot (the plot draws rating metrics, which implicit events have none of)"
    return None


def print_rows(rows: list[dict[str, Any]]) -> None:
    """The overall rows of an evaluation as a table on stdout."""
    keys = ("mae", "rmse", "like_acc", "within1_acc", "hr_at_10", "ndcg_at_10", "events_per_s")
    overall = [r for r in rows if "prior_ratings" not in r]
    group = "n_ratings" if any("n_ratings" in r for r in overall) else None
    present = [k for k in keys if any(r.get(k) is not None for r in overall)]
    head = ["model"] + ([group] if group else []) + present
    labels = [" ".join(str(r[k]) for k in ("model", "subset", "since_flip") if k in r) for r in overall]
    width = max([18] + [len(label) for label in labels])
    print("  ".join(f"{h:>{width}}" if i == 0 else f"{h:>11}" for i, h in enumerate(head)))
    for label, r in zip(labels, overall):
        cells = [f"{label:>{width}}"] + ([f"{r[group]:>11}"] if group else [])
        for k in present:
            v = r.get(k)
            cells.append(f"{'-':>11}" if v is None else f"{v:>11,.0f}" if k == "events_per_s" else f"{v:>11.4f}")
        print("  ".join(cells))
