"""``wnnrec``: the model library's commands plus the streaming ones (replay, worker, run, bench pipeline and
scale)."""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import gc
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stream.settings import ENGINE, KAFKA, SECURITY, WORKER, ApiTokenError, Settings, SettingsError, declarations
from wnn import cli as model_cli


def add_setting_args(parser: argparse.ArgumentParser, *groups: str, leave_out: tuple[str, ...] = ()) -> None:
    """The flags of every setting declared in ``groups`` (see :func:`stream.settings.setting`) but those named in
    ``leave_out`` (settings the command does not use), with their help, default and environment variable; they all
    default to None, so that only what was given overrides :class:`Settings`. A yes/no setting is ``--x`` /
    ``--no-x``."""
    for group in groups:
        arguments = parser.add_argument_group(f"{group} settings (each also from its environment variable)")
        for name, declaration in declarations().items():
            if declaration.group != group or declaration.flag is None or name in leave_out:
                continue
            flags = (declaration.flag, *declaration.aliases)
            if isinstance(declaration.default, bool):
                arguments.add_argument(
                    *flags,
                    dest=name,
                    action=argparse.BooleanOptionalAction,
                    default=None,
                    help=declaration.described(),
                )
            else:
                arguments.add_argument(
                    *flags,
                    dest=name,
                    type=_argument_type(declaration.cast),
                    default=None,
                    metavar=declaration.metavar,
                    help=declaration.described(),
                )


def _argument_type(cast: Callable[[str], Any]) -> Callable[[str], Any]:
    """``cast`` for argparse: a parser's own ValueError message (a rating scale's, say) reaches the user instead of
    argparse's "invalid value"; plain types keep argparse's message."""
    if isinstance(cast, type):
        return cast

    def convert(text: str) -> Any:
        try:
            return cast(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def build_parser() -> argparse.ArgumentParser:
    """The ``wnnrec`` command line: the model's commands (:func:`wnn.cli.build_parser`) and the stream's."""
    parser = model_cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    _add_replay(sub)
    _add_catalogue(sub)
    _add_worker(sub)
    _add_run(sub)
    bench = next(a for a in sub.choices["bench"]._actions if isinstance(a, argparse._SubParsersAction))
    _add_bench_pipeline(bench)
    _add_bench_scale(bench)
    return parser


def _add_replay(sub: Any) -> None:
    rp = sub.add_parser(
        "replay",
        help="produce MovieLens ratings to Kafka in timestamp order",
        description="Replays the dataset as rating events keyed by user, event time = rating time.",
    )
    model_cli.add_data_arg(rp)
    add_setting_args(rp, KAFKA, SECURITY)
    rp.add_argument(
        "--speed",
        type=float,
        default=None,
        help="event-time compression, e.g. 86400 replays one day of ratings per second (default: no pacing)",
    )
    rp.add_argument("--max-rate", type=float, default=None, help="at most this many ratings per second")
    rp.add_argument("--limit", type=int, default=None, help="only the first N ratings")
    rp.add_argument("--quiet", action="store_true", help="no progress bar")
    rp.add_argument(
        "--no-catalogue", action="store_true", help="do not publish the dataset's items to the items topic first"
    )


def _add_catalogue(sub: Any) -> None:
    cat = sub.add_parser(
        "catalogue",
        help="the item catalogue on the items topic",
        description="Items reach the workers through the compacted items topic (key: item id; value: title, year, "
        "genres, free attributes; a null value withdraws the item from every list).",
    )
    cat_sub = cat.add_subparsers(dest="action", required=True)
    publish = cat_sub.add_parser(
        "publish",
        help="put a MovieLens catalogue on the items topic",
        description="Publishes every item of the dataset (title, year, genres) to the items topic, keyed by item id. "
        "Publishing again is harmless: the topic is compacted and an unchanged description changes nothing.",
    )
    model_cli.add_data_arg(publish)
    add_setting_args(publish, KAFKA, SECURITY, leave_out=("partitions",))  # the items topic has one partition
    publish.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_worker(sub: Any) -> None:
    wk = sub.add_parser(
        "worker",
        help="run the Faust worker (per-user WNN state in RocksDB)",
        description="Consumes ratings, updates each user's WNN, emits lists and drift metrics.",
    )
    add_setting_args(wk, KAFKA, SECURITY)
    wk.add_argument("--loglevel", default="info")
    add_setting_args(wk, WORKER, ENGINE)


def _add_run(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="the main job: broker, one worker, a full ML-100K replay, a summary and a report",
        description="Starts the broker (unless one answers), one worker and a replay of all of "
        "ML-100K; prints a summary of what came out and writes a report folder "
        "(summary.json, report.md, plots); stops what it started and deletes the run's "
        "topics, Ctrl-C included.",
    )
    model_cli.add_data_arg(run)
    run.add_argument("--limit", type=int, default=None, help="only the first N ratings")
    run.add_argument(
        "--report",
        metavar="DIR",
        default=None,
        help="report folder (default runs/<date>-<time>; runs/ is not tracked by git)",
    )
    run.add_argument(
        "--embedded",
        action="store_true",
        help="no Kafka: the same agent in this process (faust test_context), on the first 5,000 "
        "ratings unless --limit says otherwise",
    )


def _add_bench_pipeline(bench: Any) -> None:
    bp = bench.add_parser("pipeline", help="end-to-end events/s and latency on a real broker vs raw aiokafka")
    model_cli.add_json_arg(bp)
    model_cli.add_data_arg(bp)
    add_setting_args(bp, KAFKA, SECURITY)
    bp.add_argument("--limit", type=int, default=None, help="only the first N ratings in the throughput run")
    bp.add_argument(
        "--latency-rates",
        type=model_cli.csv_of(float),
        default=[1000.0, 5000.0],
        help="offered ratings/s of the latency runs, comma-separated (default 1000,5000)",
    )
    bp.add_argument("--latency-events", type=int, default=20000, help="ratings in each latency run")
    add_setting_args(bp, ENGINE)
    bp.add_argument(
        "--phases",
        type=lambda t: tuple(x for x in t.split(",") if x),
        default=("throughput", "latency"),
        help="comma-separated: throughput, latency (default both)",
    )
    bp.add_argument("--rounds", type=int, default=3, help="throughput rounds, medians reported (default 3)")
    bp.add_argument(
        "--in-process",
        action="store_true",
        help="no broker: replay the dataset through the stream processor alone (a dict for the user table), in "
        "batches of --batch-max, to measure the model and the processor without faust, Kafka or RocksDB",
    )
    bp.add_argument("--quiet", action="store_true")


def _add_bench_scale(bench: Any) -> None:
    sc = bench.add_parser(
        "scale",
        help="events/s, RSS and state size of one worker at 1k..1M synthetic users",
        description="For each user count: a synthetic stream (Zipf user activity, items and "
        "ratings drawn from real MovieLens ratings) on fresh topics, drained by one "
        "worker. Each level gets max(--min-events, users) events.",
    )
    model_cli.add_json_arg(sc)
    model_cli.add_data_arg(sc)
    add_setting_args(sc, KAFKA, SECURITY)
    sc.add_argument(
        "--users",
        type=model_cli.csv_of(int),
        default=[1000, 10000, 100000, 1000000],
        help="user counts, comma-separated (default 1000,10000,100000,1000000)",
    )
    sc.add_argument("--min-events", type=int, default=100_000, help="events per level at least (default 100000)")
    sc.add_argument("--zipf-s", type=float, default=1.0, help="Zipf exponent of user activity (default 1.0)")
    sc.add_argument(
        "--in-process",
        action="store_true",
        help="no broker: the streams go through the stream processor alone (a dict for the user table), "
        "to measure the model and the processor without faust, Kafka or RocksDB",
    )
    add_setting_args(sc, ENGINE)
    sc.add_argument("--quiet", action="store_true")


def settings_from(args: argparse.Namespace) -> Settings:
    """:class:`Settings` from the environment, with what the command line gave on top."""
    given = {name: getattr(args, name) for name in declarations() if getattr(args, name, None) is not None}
    try:
        return dataclasses.replace(Settings(), **given)
    except SettingsError:
        raise
    except ValueError as exc:  # a combination __post_init__ refuses
        raise SettingsError(str(exc)) from None


def _worker(args: argparse.Namespace) -> int:
    import faust

    from stream.catalogue import ensure_items_topic
    from stream.quiet_logs import quiet_kafka_client_logs
    from stream.replay import ensure_topics
    from stream.state_folder import CLEAN_STOP_MARKER, discard_after_unclean_stop, mark_clean_stop
    from stream.worker import create_worker
    from wnn.kernels.warm import warm_up

    settings = settings_from(args)
    settings.resolved_api_token()  # no token and no --insecure-no-auth: one clear line, before touching the broker
    # The consumer only sees topics that exist when it subscribes: create ours up front (a clear error if no broker).
    ensure_topics(settings, settings.topics, settings.partitions)
    ensure_items_topic(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    app = create_worker(settings).app
    marker = settings.state_dir / CLEAN_STOP_MARKER
    if discard_after_unclean_stop(Path(app.conf.tabledir), marker):
        logging.getLogger(__name__).warning(
            "the last stop was not clean: local tables in %s deleted, to be rebuilt from the changelogs",
            app.conf.tabledir,
        )
    # faust creates the tables' changelogs as it starts and subscribes at once; on a fresh deployment the consumer's
    # metadata could miss a new changelog, faust then ignored it and the table's recovery never ended (the fault
    # suite saw a worker make no progress for 120 s). Created here first, with faust's own settings, they exist.
    for table in app.tables.values():
        changelog = table.changelog_topic
        ensure_topics(
            settings,
            [changelog.get_topic_name()],
            changelog.partitions,
            {"cleanup.policy": "compact", **changelog.config},
            retention_ms=None,
        )
    quiet_kafka_client_logs()
    # Compile the model's kernels (or load them from numba's cache) before the first batch waits for them.
    logging.getLogger(__name__).info("model kernels ready in %.2f s", warm_up())
    # Each event allocates many short-lived objects; with faust's large heap the default cyclic-GC thresholds made
    # collection a large share of a worker's CPU. Objects from start-up are frozen out of it.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    # `kill -QUIT <pid>` writes every thread's stack to the log even when the event loop is stuck (faulthandler, in C);
    # `kill -USR1` is mode's: the loop logs every thread's and task's stack, if it still runs.
    faulthandler.register(signal.SIGQUIT, all_threads=True)
    worker = faust.Worker(app, loglevel=args.loglevel)
    try:
        worker.execute_from_commandline()
    except SystemExit as stop:
        if stop.code in (0, None):  # stopped on request: tables closed and changelogs flushed
            mark_clean_stop(marker)
        raise
    return 0


def _replay(args: argparse.Namespace) -> int:
    from stream.catalogue import publish_catalogue
    from stream.replay import replay
    from wnn.data import load_dataset

    settings = settings_from(args)
    dataset = load_dataset(args.data)
    if not args.no_catalogue:  # the items first, so a worker has their content bits before their first rating
        publish_catalogue(settings, dataset, progress=not args.quiet)
    stats = replay(
        settings,
        dataset,
        speed=args.speed,
        max_rate=args.max_rate,
        limit=args.limit,
        progress=not args.quiet,
    )
    print(
        f"replayed {stats.sent:,} ratings to {settings.ratings_topic} at {settings.bootstrap} in "
        f"{stats.seconds:.1f} s ({stats.rate:,.0f}/s)"
    )
    return 0


def _bench_pipeline(args: argparse.Namespace) -> int:
    from stream.bench import bench_pipeline
    from stream.in_process import bench_dataset
    from wnn.data import load_dataset

    settings = settings_from(args)
    if args.in_process:
        result = bench_dataset(settings, load_dataset(args.data), limit=args.limit, progress=not args.quiet)
        print(f"process_batch: {result['us_per_rating']:,.1f} us a rating ({result['events_per_s']:,.0f}/s)")
        model_cli.write_json_result(args.json, result)
        return 0
    result = bench_pipeline(
        settings,
        load_dataset(args.data),
        limit=args.limit,
        latency_rates=tuple(args.latency_rates),
        latency_events=args.latency_events,
        progress=not args.quiet,
        phases=args.phases,
        rounds=args.rounds,
    )
    for key in (
        "events_per_s",
        "framework_ceiling_events_per_s",
        "ratio_vs_framework_ceiling",
        "raw_consume_events_per_s",
        "ratio_vs_raw_consume",
        "latency_p50_ms",
        "latency_p99_ms",
        "latency_5k_p50_ms",
        "latency_5k_p99_ms",
    ):
        if result.get(key) is not None:
            print(f"{key:>31}: {result[key]:,.3f}")
    model_cli.write_json_result(args.json, result)
    return 0


def _bench_scale(args: argparse.Namespace) -> int:
    from stream.scale import bench_scale, bench_scale_in_process
    from wnn.data import load_dataset

    run = bench_scale_in_process if args.in_process else bench_scale
    result = run(
        settings_from(args),
        load_dataset(args.data),
        users=tuple(args.users),
        min_events=args.min_events,
        zipf_s=args.zipf_s,
        progress=not args.quiet,
    )
    if args.in_process:
        print(f"{'users':>10} {'events':>9} {'us/rating':>9} {'held':>9} {'cache MiB':>9} {'RSS MiB':>8}")
        for level in result["levels"]:
            print(
                f"{level['users']:>10,} {level['n_events']:>9,} {level['us_per_rating']:>9,.1f} "
                f"{level['users_held']:>9,} {level['cache_mib']:>9,.1f} {level['rss_mib'] or 0:>8,.0f}"
            )
        model_cli.write_json_result(args.json, result)
        return 0
    print(
        f"{'users':>10} {'distinct':>9} {'events':>9} {'events/s':>9} {'vs first':>8} {'RSS MiB':>8} {'state MiB':>9}"
    )
    for level in result["levels"]:
        print(
            f"{level['users']:>10,} {level['distinct_users_in_stream']:>9,} {level['n_events']:>9,} "
            f"{level['events_per_s']:>9,.0f} {level['events_per_s_vs_smallest']:>8.2f} "
            f"{level['worker_rss_mib'] or 0:>8,.0f} {level['state_folder_mib']:>9,.1f}"
        )
    model_cli.write_json_result(args.json, result)
    return 0


def _run(args: argparse.Namespace) -> int:
    from stream.run import main_job

    return main_job(
        settings_from(args), data=args.data, limit=args.limit, report_dir=args.report, embedded=args.embedded
    )


def _catalogue(args: argparse.Namespace) -> int:
    from stream.catalogue import publish_catalogue
    from wnn.data import load_dataset

    settings = settings_from(args)
    n = publish_catalogue(settings, load_dataset(args.data), progress=not args.quiet)
    print(f"published {n:,} items to {settings.items_topic} at {settings.bootstrap}")
    return 0


def dispatch(args: argparse.Namespace) -> int:
    """Run a parsed command: the streaming ones here, the model library's in :func:`wnn.cli.run`."""
    handlers = {"replay": _replay, "worker": _worker, "run": _run, "catalogue": _catalogue}
    if args.command in handlers:
        return handlers[args.command](args)
    if args.command == "bench" and args.target == "pipeline":
        return _bench_pipeline(args)
    if args.command == "bench" and args.target == "scale":
        return _bench_scale(args)
    return model_cli.run(args)


def main(argv: list[str] | None = None) -> int:
    from stream.replay import BrokerUnavailable

    return model_cli.main(argv, build_parser(), dispatch, user_errors=(BrokerUnavailable, ApiTokenError, SettingsError))


if __name__ == "__main__":
    sys.exit(main())
