"""``wnnrec bench model|pipeline|scale``: the model against River, the pipeline on a broker, growth with users."""

from __future__ import annotations

import argparse
from typing import Any

from stream.declarations import ENGINE, KAFKA, SECURITY
from wnnrec.cli.arguments import (
    Subcommands,
    add_command,
    add_data_arg,
    add_json_arg,
    add_quiet_arg,
    add_setting_args,
    add_subcommands,
    csv_of,
    settings_from,
    write_json_result,
)

IN_PROCESS_HELP = (
    "no broker: the ratings go through the stream processor alone (a dict for the user table), in batches of "
    "--batch-max, to measure the model and the processor without faust, Kafka or RocksDB"
)


def register(subcommands: Subcommands) -> None:
    targets = add_subcommands(add_command(subcommands, "bench", help="benchmarks"), "target")
    _register_model(targets)
    _register_pipeline(targets)
    _register_scale(targets)


def _register_model(targets: Subcommands) -> None:
    bm = add_command(
        targets,
        "model",
        model,
        help="WNN learn+predict rate vs River BiasedMF (same run, one core), score-all latency, state size",
    )
    add_json_arg(bm)
    add_data_arg(bm)
    bm.add_argument("--rounds", type=int, default=3, help="alternating rounds per model; the best counts (default 3)")
    bm.add_argument("--limit", type=int, default=None, help="only the first N events")


def _register_pipeline(targets: Subcommands) -> None:
    bp = add_command(
        targets, "pipeline", pipeline, help="end-to-end events/s and latency on a real broker vs raw aiokafka"
    )
    add_json_arg(bp)
    add_data_arg(bp)
    add_setting_args(bp, KAFKA, SECURITY)
    bp.add_argument("--limit", type=int, default=None, help="only the first N ratings in the throughput run")
    bp.add_argument(
        "--latency-rates",
        type=csv_of(float),
        default=[1000.0, 5000.0],
        help="offered ratings/s of the latency runs, comma-separated (default 1000,5000)",
    )
    bp.add_argument("--latency-events", type=int, default=20000, help="ratings in each latency run")
    add_setting_args(bp, ENGINE)
    bp.add_argument(
        "--phases",
        type=csv_of(str),
        default=["throughput", "latency"],
        help="comma-separated: throughput, latency (default both)",
    )
    bp.add_argument("--rounds", type=int, default=3, help="throughput rounds, medians reported (default 3)")
    bp.add_argument("--in-process", action="store_true", help=IN_PROCESS_HELP)
    add_quiet_arg(bp)


def _register_scale(targets: Subcommands) -> None:
    sc = add_command(
        targets,
        "scale",
        scale,
        help="events/s, RSS and state size of one worker at 1k..1M synthetic users",
        description="For each user count: a synthetic stream (Zipf user activity, items and "
        "ratings drawn from real MovieLens ratings) on fresh topics, drained by one "
        "worker. Each level gets max(--min-events, users) events.",
    )
    add_json_arg(sc)
    add_data_arg(sc)
    add_setting_args(sc, KAFKA, SECURITY)
    sc.add_argument(
        "--users",
        type=csv_of(int),
        default=[1000, 10000, 100000, 1000000],
        help="user counts, comma-separated (default 1000,10000,100000,1000000)",
    )
    sc.add_argument("--min-events", type=int, default=100_000, help="events per level at least (default 100000)")
    sc.add_argument("--zipf-s", type=float, default=1.0, help="Zipf exponent of user activity (default 1.0)")
    sc.add_argument("--in-process", action="store_true", help=IN_PROCESS_HELP)
    add_setting_args(sc, ENGINE)
    add_quiet_arg(sc)


def print_fields(result: dict[str, Any], keys: tuple[str, ...]) -> None:
    """``keys`` of ``result`` (those present), one a line, aligned."""
    width = max(len(key) for key in keys) + 2
    for key in keys:
        if result.get(key) is not None:
            print(f"{key:>{width}}: {result[key]:,.3f}")


def model(args: argparse.Namespace) -> int:
    from wnnrec.bench.model import bench_model
    from wnnrec.datasets import load_dataset

    result = bench_model(load_dataset(args.data), rounds=args.rounds, limit=args.limit)
    print_fields(
        result,
        (
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
        ),
    )
    write_json_result(args.json, result)
    return 0


def pipeline(args: argparse.Namespace) -> int:
    from wnnrec.bench.in_process import bench_dataset
    from wnnrec.bench.pipeline import bench_pipeline
    from wnnrec.datasets import load_dataset

    settings = settings_from(args)
    if args.in_process:
        result = bench_dataset(settings, load_dataset(args.data), limit=args.limit, progress=not args.quiet)
        print(f"process_batch: {result['us_per_rating']:,.1f} us a rating ({result['events_per_s']:,.0f}/s)")
        write_json_result(args.json, result)
        return 0
    result = bench_pipeline(
        settings,
        load_dataset(args.data),
        limit=args.limit,
        latency_rates=tuple(args.latency_rates),
        latency_events=args.latency_events,
        progress=not args.quiet,
        phases=tuple(args.phases),
        rounds=args.rounds,
    )
    print_fields(
        result,
        (
            "events_per_s",
            "framework_ceiling_events_per_s",
            "ratio_vs_framework_ceiling",
            "raw_consume_events_per_s",
            "ratio_vs_raw_consume",
            "latency_p50_ms",
            "latency_p99_ms",
            "latency_5k_p50_ms",
            "latency_5k_p99_ms",
        ),
    )
    write_json_result(args.json, result)
    return 0


def scale(args: argparse.Namespace) -> int:
    from wnnrec.bench.scale import bench_scale, bench_scale_in_process
    from wnnrec.datasets import load_dataset

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
    else:
        print(
            f"{'users':>10} {'distinct':>9} {'events':>9} {'events/s':>9} {'vs first':>8} {'RSS MiB':>8} "
            f"{'state MiB':>9} {'msgs/rating':>11} {'cache hits':>10} {'ready s':>7}"
        )
        for level in result["levels"]:
            print(
                f"{level['users']:>10,} {level['distinct_users_in_stream']:>9,} {level['n_events']:>9,} "
                f"{level['events_per_s']:>9,.0f} {level['events_per_s_vs_smallest']:>8.2f} "
                f"{level['worker_rss_mib'] or 0:>8,.0f} {level['state_folder_mib']:>9,.1f} "
                f"{level['output_messages_per_rating']:>11.2f} {level['cache_hit_share'] or 0:>10.1%} "
                f"{_seconds(level['ready_after_kill_wipe_s']):>7}"
            )
    write_json_result(args.json, result)
    return 0


def _seconds(value: float | None) -> str:
    """Seconds with one decimal, or "none" for a wait that did not end."""
    return "none" if value is None else f"{value:.1f}"
