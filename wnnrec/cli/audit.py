"""``wnnrec audit unlearning``: forget ratings (or erase users), and compare with a recommender that never saw them."""

from __future__ import annotations

import argparse

from wnnrec.cli.arguments import (
    Subcommands,
    add_command,
    add_data_arg,
    add_json_arg,
    add_quiet_arg,
    add_subcommands,
    write_json_result,
)


def register(subcommands: Subcommands) -> None:
    targets = add_subcommands(add_command(subcommands, "audit", help="audits of the model's promises"), "target")
    au = add_command(
        targets,
        "unlearning",
        unlearning,
        help="forget a rating (or erase a user), compare with a recommender that never saw it",
        description="Each trial forgets one random rating from system A through the public API "
        "(with --forget user: erases that rating's user, every rating of theirs) "
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
    au.add_argument(
        "--forget",
        choices=("rating", "user"),
        default="rating",
        help="what each trial forgets: one random rating (default), or every rating of that rating's user",
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
    add_quiet_arg(au)


def unlearning(args: argparse.Namespace) -> int:
    from wnnrec.audit import audit_unlearning
    from wnnrec.datasets import load_dataset

    result = audit_unlearning(
        load_dataset(args.data),
        trials=args.trials,
        protocol=args.protocol,
        prefix=args.prefix,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        progress=not args.quiet,
        forget=args.forget,
    )
    for key, value in result.items():
        if key != "compared":
            print(f"{key:>32}: {value}")
    write_json_result(args.json, result)
    return 0
