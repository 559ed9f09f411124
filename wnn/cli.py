"""``wnnrec``: command line of the model library (data, evaluation, model benchmark).

The streaming commands (replay, worker, run, bench pipeline) are added by ``stream`` on top of this parser.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROTOCOLS = ("prequential", "per-user-split")
#: Modules of the ``eval`` extras (the peers and the plots), which a worker's install leaves out.
EVAL_MODULES = {"river", "sklearn", "surprise", "matplotlib"}


def csv_of(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    """An argparse type for comma-separated values of ``kind`` (``--users 1000,100000``)."""
    return lambda text: [kind(x) for x in text.split(",") if x]


def add_json_arg(p: argparse.ArgumentParser) -> None:
    """``--json PATH``: also write the command's whole result there (it always prints a summary)."""
    p.add_argument("--json", metavar="PATH", default=None, help="also write the whole result here, as JSON")


def write_json_result(path: str | None, result: dict[str, Any]) -> None:
    """Write a command's result to ``path`` (making its folder), and say so; nothing without a path."""
    if path is None:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


def add_data_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="dataset folder: RecBole ml-100k, GroupLens ml-100k (u.data/u.item) or ml-latest-small "
        "(ratings.csv/movies.csv). Default: $WNNREC_DATA or ~/.cache/wnnrec, ml-100k inside.",
    )


def _version() -> str:
    """The installed distribution's version (the source tree's, for a checkout that is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wnnrec")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wnnrec",
        description="Streaming recommender with one weightless neural network per user.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Start with `wnnrec data fetch`, then `wnnrec evaluate --protocol prequential --json out.json`.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="fetch or inspect MovieLens").add_subparsers(dest="action", required=True)
    fetch = data.add_parser("fetch", help="download MovieLens-100K (from the recbole==1.2.1 wheel on PyPI)")
    fetch.add_argument(
        "--data",
        "--dest",
        dest="data",
        metavar="DIR",
        default=None,
        help="data folder to fetch into (default $WNNREC_DATA or ~/.cache/wnnrec)",
    )
    fetch.add_argument("--force", action="store_true", help="download again even if the files are intact")
    info = data.add_parser("info", help="load a dataset and print its size")
    add_data_arg(info)

    ev = sub.add_parser(
        "evaluate",
        help="run an evaluation protocol with the WNN, its ablations and the baselines",
        description="Prequential: replay every rating in time order, predict then learn. "
        "Per-user split: the paper's protocol, N ratings per user, 80% train.",
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
    ev.add_argument("--quiet", action="store_true", help="no progress bars")

    audit = sub.add_parser("audit", help="audits of the model's promises").add_subparsers(dest="target", required=True)
    au = audit.add_parser(
        "unlearning",
        help="forget a rating, compare with a recommender that never saw it",
        description="Each trial forgets one random rating from system A through the public API "
        "and builds B, which learned the same ratings without it. Compares every "
        "user's stored bytes, a digest of every derived value (tables, Q, taste "
        "windows, item statistics, codes, addresses, next-item counts, candidates), "
        "every user's top-10 and every predicted rating. --protocol prefix: A learns "
        "the first --prefix ratings; full-stream: A learns all of them, B replays "
        "from a checkpoint taken before the forgotten rating.",
    )
    add_json_arg(au)
    add_data_arg(au)
    au.add_argument(
        "--protocol",
        choices=("prefix", "full-stream"),
        default="prefix",
        help="prefix (default): the first --prefix ratings; full-stream: all of them",
    )
    au.add_argument("--trials", type=int, default=1000, help="ratings forgotten, one per trial (default 1000)")
    au.add_argument(
        "--prefix", type=int, default=2000, help="prefix protocol: ratings learned per trial, time order (default 2000)"
    )
    au.add_argument(
        "--checkpoint-every",
        type=int,
        default=10_000,
        help="full-stream protocol: ratings between the checkpoints B replays from (default 10000)",
    )
    au.add_argument("--seed", type=int, default=0)
    au.add_argument("--quiet", action="store_true", help="no progress bar")

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="target", required=True)
    bm = bench.add_parser(
        "model", help="WNN learn+predict rate vs River BiasedMF (same run, one core), score-all latency, state size"
    )
    add_json_arg(bm)
    add_data_arg(bm)
    bm.add_argument("--rounds", type=int, default=3, help="alternating rounds per model; the best counts (default 3)")
    bm.add_argument("--limit", type=int, default=None, help="only the first N events")
    return parser


def _print_rows(rows: list[dict[str, Any]]) -> None:
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


def _evaluate(args: argparse.Namespace) -> int:
    from wnn.data import load_dataset
    from wnn.evaluation import PREQUENTIAL_MODELS, SPLIT_MODELS, run_per_user_split, run_prequential
    from wnn.evaluation.per_user_split import DEFAULT_NS
    from wnn.evaluation.report import plot, write_json

    dataset = load_dataset(args.data)
    progress = not args.quiet
    if args.drift_injection is not None and args.protocol != "prequential":
        raise SystemExit("--drift-injection works with --protocol prequential only")
    from wnn.evaluation.models import MODEL_NAMES

    unknown = [name for name in args.models or () if name not in MODEL_NAMES]
    if unknown:
        raise SystemExit(
            f"wnnrec evaluate: unknown model {', '.join(map(repr, unknown))}; choose from {', '.join(MODEL_NAMES)}"
        )
    if args.protocol == "prequential":
        models = args.models or list(PREQUENTIAL_MODELS)
        marks = None
        extra = {"n_events": min(args.limit or dataset.n_ratings, dataset.n_ratings)}
        if args.drift_injection is not None:
            from wnn.evaluation.drift_injection import inject_drift

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
    _print_rows(rows)
    if args.json is not None:
        write_json(args.json, args.protocol, dataset.name, rows, rating_scale=str(dataset.scale), **extra)
        print(f"wrote {args.json}")
    if args.plot:
        plot(args.plot, args.protocol, rows)
        print(f"wrote {args.plot}")
    return 0


def _bench_model(args: argparse.Namespace) -> int:
    from wnn.bench import bench_model
    from wnn.data import load_dataset

    result = bench_model(load_dataset(args.data), rounds=args.rounds, limit=args.limit)
    for key in (
        "events_per_s",
        "biasedmf_events_per_s",
        "speed_ratio_vs_biasedmf",
        "learn_predict_us",
        "score_all_p50_ms",
        "score_all_p99_ms",
        "score_candidates_p50_ms",
        "score_candidates_p99_ms",
        "kernels_compile_s",
        "kernels_cached_start_s",
        "state_bytes_at_10",
        "state_bytes_at_100",
    ):
        print(f"{key:>26}: {result[key]:,.3f}")
    write_json_result(args.json, result)
    return 0


def _audit_unlearning(args: argparse.Namespace) -> int:
    from wnn.audit import audit_unlearning
    from wnn.data import load_dataset

    result = audit_unlearning(
        load_dataset(args.data),
        trials=args.trials,
        protocol=args.protocol,
        prefix=args.prefix,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        progress=not args.quiet,
    )
    for key, value in result.items():
        if key != "compared":
            print(f"{key:>32}: {value}")
    write_json_result(args.json, result)
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch a parsed model-library command."""
    if args.command == "data":
        from wnn.data import fetch_movielens_100k, load_dataset

        if args.action == "fetch":
            folder = fetch_movielens_100k(Path(args.data) if args.data else None, force=args.force)
            print(f"MovieLens-100K is in {folder}")
        else:
            print(load_dataset(args.data))
        return 0
    if args.command == "evaluate":
        return _evaluate(args)
    if args.command == "bench" and args.target == "model":
        return _bench_model(args)
    if args.command == "audit" and args.target == "unlearning":
        return _audit_unlearning(args)
    raise SystemExit(f"wnnrec: unknown command {args.command!r}")


def tag_subcommands(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make every sub-command optional to argparse and remember which parser each one is, so that
    :func:`parse_args` can report a mistake in the words of the sub-command it belongs to (argparse itself reports
    an unknown option of ``wnnrec replay`` with the top-level usage, and ``wnnrec --bogus`` as a missing command)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            action.required = False
            for sub in action.choices.values():
                sub.set_defaults(_parser=sub)
                tag_subcommands(sub)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse, and report an unknown option or a missing sub-command with the usage of the deepest command given."""
    tag_subcommands(parser)
    args, extras = parser.parse_known_args(argv)
    where = getattr(args, "_parser", parser)
    if extras:
        where.error(f"unrecognized arguments: {' '.join(extras)}")
    for action in where._actions:
        if isinstance(action, argparse._SubParsersAction) and getattr(args, action.dest, None) is None:
            where.error(f"choose one of: {', '.join(action.choices)} (see --help)")
    return args


def main(
    argv: list[str] | None = None,
    parser: argparse.ArgumentParser | None = None,
    dispatch: Callable[[argparse.Namespace], int] | None = None,
    user_errors: tuple[type[BaseException], ...] = (),
) -> int:
    """Parse and run; errors the user can fix (missing data, no broker) print one clear line and exit 2.

    ``stream.cli`` reuses this with its larger parser, its own ``dispatch`` and its own user errors.
    """
    from wnn.data import DataError

    parser = parser or build_parser()
    args = parse_args(parser, argv)
    errors: tuple[type[BaseException], ...] = (DataError, *user_errors)
    try:
        return (dispatch or run)(args)
    except errors as exc:
        print(f"wnnrec: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in EVAL_MODULES:
            print(
                f"wnnrec: {args.command} needs the evaluation extras ({exc.name} is missing): "
                "pip install 'wnnrec[eval]'",
                file=sys.stderr,
            )
            return 2
        raise
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
