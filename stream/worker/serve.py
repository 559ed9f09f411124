"""Run a worker in this process until it is stopped: what ``wnnrec worker`` does.

Before faust starts, the worker's topics and its tables' changelogs are created (a consumer sees only topics that
exist when it subscribes), local tables left by an unclean stop are discarded (they are rebuilt from the
changelogs), and the model's kernels are compiled or loaded from numba's cache, so the first batch does not wait
for them.
"""

from __future__ import annotations

import faulthandler
import gc
import logging
import signal
from pathlib import Path

import faust

from stream import crash_points
from stream.admin import create_topics, ensure_topics, with_cluster_replication
from stream.quiet_logs import quiet_kafka_client_logs
from stream.settings import Settings
from stream.state_folder import CLEAN_STOP_MARKER, discard_after_unclean_stop, mark_clean_stop
from stream.worker.app import create_worker
from wnn.kernels.warm import warm_up

log = logging.getLogger(__name__)


def serve(settings: Settings, loglevel: str = "info") -> int:
    """Prepare the broker and the state folder, then run a worker for ``settings`` until it stops."""
    # No token and no --insecure-no-auth, or an unusable erase token: one clear line, before touching the broker.
    settings.resolved_api_token()
    settings.resolved_erase_token()
    # The consumer only sees topics that exist when it subscribes: create ours up front (a clear error if no broker),
    # replicated as the cluster allows, and tell faust so for the internal topics it creates itself.
    settings = with_cluster_replication(settings)
    create_topics(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    crash_points.arm(settings.crash_at)
    app = create_worker(settings).app
    marker = settings.state_dir / CLEAN_STOP_MARKER
    if discard_after_unclean_stop(Path(app.conf.tabledir), marker):
        log.warning(
            "the last stop was not clean: local tables in %s deleted, to be rebuilt from the changelogs",
            app.conf.tabledir,
        )
    create_changelogs(settings, app)
    quiet_kafka_client_logs()
    log.info("model kernels ready in %.2f s", warm_up())
    tune_for_a_long_run()
    worker = faust.Worker(app, loglevel=loglevel)
    try:
        worker.execute_from_commandline()
    except SystemExit as stop:
        if stop.code in (0, None):  # stopped on request: tables closed and changelogs flushed
            mark_clean_stop(marker)
        raise
    return 0


def create_changelogs(settings: Settings, app: faust.App) -> None:
    """Create the tables' changelog topics with faust's own settings.

    faust creates them as it starts and subscribes at once; on a fresh deployment the consumer's metadata could miss
    a new changelog, faust then ignored it and the table's recovery never ended (the fault suite saw a worker make no
    progress for 120 s). Created here first, they exist."""
    for table in app.tables.values():
        changelog = table.changelog_topic
        ensure_topics(
            settings,
            [changelog.get_topic_name()],
            changelog.partitions,
            {"cleanup.policy": "compact", **changelog.config},
        )


def tune_for_a_long_run() -> None:
    """The garbage collector and the stack dumps of a long-running worker.

    Each event allocates many short-lived objects; with faust's large heap the default cyclic-GC thresholds made
    collection a large share of a worker's CPU, so objects from start-up are frozen out of it. ``kill -QUIT <pid>``
    writes every thread's stack to the log even when the event loop is stuck (faulthandler, in C); ``kill -USR1`` is
    mode's: the loop logs every thread's and task's stack, if it still runs."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    faulthandler.register(signal.SIGQUIT, all_threads=True)
