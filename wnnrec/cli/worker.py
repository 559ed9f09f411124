"""``wnnrec worker``: run the stream worker (:func:`stream.worker.serve.serve`)."""

from __future__ import annotations

import argparse

from stream.declarations import ENGINE, KAFKA, SECURITY, WORKER
from wnnrec.cli.arguments import Subcommands, add_command, add_setting_args, settings_from


def register(subcommands: Subcommands) -> None:
    wk = add_command(
        subcommands,
        "worker",
        worker,
        help="run the Faust worker (per-user WNN state in RocksDB)",
        description="Consumes ratings, updates each user's WNN, emits lists and drift metrics.",
    )
    add_setting_args(wk, KAFKA, SECURITY)
    wk.add_argument("--loglevel", default="info")
    add_setting_args(wk, WORKER, ENGINE)


def worker(args: argparse.Namespace) -> int:
    from stream.worker.serve import serve

    return serve(settings_from(args), loglevel=args.loglevel)
