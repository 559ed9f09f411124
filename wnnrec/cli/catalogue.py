"""``wnnrec catalogue publish``: a MovieLens catalogue put on the items topic."""

from __future__ import annotations

import argparse

from stream.declarations import KAFKA, SECURITY
from wnnrec.cli.arguments import (
    Subcommands,
    add_command,
    add_data_arg,
    add_quiet_arg,
    add_setting_args,
    add_subcommands,
    settings_from,
)


def register(subcommands: Subcommands) -> None:
    cat = add_command(
        subcommands,
        "catalogue",
        help="the item catalogue on the items topic",
        description="Items reach the workers through the compacted items topic (key: item id; value: title, year, "
        "genres, free attributes; a null value withdraws the item from every list).",
    )
    publish_parser = add_command(
        add_subcommands(cat, "action"),
        "publish",
        publish,
        help="put a MovieLens catalogue on the items topic",
        description="Publishes every item of the dataset (title, year, genres) to the items topic, keyed by item id. "
        "Publishing again is harmless: the topic is compacted and an unchanged description changes nothing.",
    )
    add_data_arg(publish_parser)
    add_setting_args(publish_parser, KAFKA, SECURITY, leave_out=("partitions",))  # the items topic has one partition
    add_quiet_arg(publish_parser)


def publish(args: argparse.Namespace) -> int:
    from stream.catalogue import publish_catalogue
    from wnnrec.datasets import load_dataset

    settings = settings_from(args)
    n = publish_catalogue(settings, load_dataset(args.data), progress=not args.quiet)
    print(f"published {n:,} items to {settings.items_topic} at {settings.bootstrap}")
    return 0
