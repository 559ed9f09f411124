"""``wnnrec data fetch|info``: MovieLens-100K downloaded (the recbole==1.2.1 wheel on PyPI); a dataset's size."""

from __future__ import annotations

import argparse
from pathlib import Path

from wnnrec.cli.arguments import Subcommands, add_command, add_data_arg, add_subcommands


def register(subcommands: Subcommands) -> None:
    data = add_command(subcommands, "data", help="fetch or inspect MovieLens")
    actions = add_subcommands(data, "action")
    fetch_parser = add_command(
        actions, "fetch", fetch, help="download MovieLens-100K (from the recbole==1.2.1 wheel on PyPI)"
    )
    fetch_parser.add_argument(
        "--data",
        "--dest",
        dest="data",
        metavar="DIR",
        default=None,
        help="data folder to fetch into (default $WNNREC_DATA or ~/.cache/wnnrec)",
    )
    fetch_parser.add_argument("--force", action="store_true", help="download again even if the files are intact")
    add_data_arg(add_command(actions, "info", info, help="load a dataset and print its size"))


def fetch(args: argparse.Namespace) -> int:
    from wnnrec.datasets import fetch_movielens_100k

    folder = fetch_movielens_100k(Path(args.data) if args.data else None, force=args.force)
    print(f"MovieLens-100K is in {folder}")
    return 0


def info(args: argparse.Namespace) -> int:
    from wnnrec.datasets import load_dataset

    print(load_dataset(args.data))
    return 0
