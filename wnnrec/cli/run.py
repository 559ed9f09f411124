"""``wnnrec run``: the main job (:func:`wnnrec.run.main_job`)."""

from __future__ import annotations

import argparse

from wnnrec.cli.arguments import Subcommands, add_command, add_data_arg, settings_from


def register(subcommands: Subcommands) -> None:
    run_parser = add_command(
        subcommands,
        "run",
        run,
        help="the main job: broker, one worker, a full ML-100K replay, a summary and a report",
        description="Starts the broker (unless one answers), one worker and a replay of all of "
        "ML-100K; prints a summary of what came out and writes a report folder "
        "(summary.json, report.md, plots); stops what it started and deletes the run's "
        "topics, Ctrl-C included.",
    )
    add_data_arg(run_parser)
    run_parser.add_argument("--limit", type=int, default=None, help="only the first N ratings")
    run_parser.add_argument(
        "--report",
        metavar="DIR",
        default=None,
        help="report folder (default runs/<date>-<time>; runs/ is not tracked by git)",
    )
    run_parser.add_argument(
        "--embedded",
        action="store_true",
        help="no Kafka: the same agent in this process (faust test_context), on the first 5,000 "
        "ratings unless --limit says otherwise",
    )


def run(args: argparse.Namespace) -> int:
    from wnnrec.run import main_job

    return main_job(
        settings_from(args), data=args.data, limit=args.limit, report_dir=args.report, embedded=args.embedded
    )
