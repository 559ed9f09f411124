"""``wnnrec replay``: MovieLens ratings produced to Kafka in timestamp order (the catalogue first)."""

from __future__ import annotations

import argparse

from stream.declarations import KAFKA, SECURITY
from wnnrec.cli.arguments import Subcommands, add_command, add_data_arg, add_quiet_arg, add_setting_args, settings_from


def register(subcommands: Subcommands) -> None:
    rp = add_command(
        subcommands,
        "replay",
        replay,
        help="produce MovieLens ratings to Kafka in timestamp order",
        description="Replays the dataset as rating events keyed by user, event time = rating time.",
    )
    add_data_arg(rp)
    add_setting_args(rp, KAFKA, SECURITY)
    rp.add_argument(
        "--speed",
        type=float,
        default=None,
        help="event-time compression, e.g. 86400 replays one day of ratings per second (default: no pacing)",
    )
    rp.add_argument("--max-rate", type=float, default=None, help="at most this many ratings per second")
    rp.add_argument("--limit", type=int, default=None, help="only the first N ratings")
    rp.add_argument(
        "--implicit",
        action="store_true",
        help="send only the likes (ratings at or above the scale's like threshold, 4 of 5 stars), each as an "
        "implicit event without stars, as a stream of clicks or plays would come",
    )
    add_quiet_arg(rp)
    rp.add_argument(
        "--no-catalogue", action="store_true", help="do not publish the dataset's items to the items topic first"
    )


def replay(args: argparse.Namespace) -> int:
    from stream.catalogue import publish_catalogue
    from wnnrec.datasets import load_dataset
    from wnnrec.replay import replay as replay_dataset

    settings = settings_from(args)
    dataset = load_dataset(args.data)
    if not args.no_catalogue:  # the items first, so a worker has their content bits before their first rating
        publish_catalogue(settings, dataset, progress=not args.quiet)
    stats = replay_dataset(
        settings,
        dataset,
        speed=args.speed,
        max_rate=args.max_rate,
        limit=args.limit,
        progress=not args.quiet,
        implicit=args.implicit,
    )
    what = "implicit events" if args.implicit else "ratings"
    print(
        f"replayed {stats.sent:,} {what} to {settings.ratings_topic} at {settings.bootstrap} in "
        f"{stats.seconds:.1f} s ({stats.rate:,.0f}/s)"
    )
    return 0
