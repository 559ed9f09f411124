"""Build a worker: its faust app, topics and tables, and each part registered on it.

The parts are one module each, like faust's own examples: :mod:`~stream.worker.agents` (the ratings agent),
:mod:`~stream.worker.recovery` (rebalances and the tables' recovery), :mod:`~stream.worker.watchdog` (input that
stalled or was skipped), :mod:`~stream.worker.timers`, :mod:`~stream.worker.catalogue_reader` and
:mod:`~stream.worker.views` (the HTTP API). They share one :class:`~stream.worker.context.Worker`.
"""

from __future__ import annotations

import functools
import logging
import socket

from stream.api import ApiTokens
from stream.faust_app import new_faust_app
from stream.faust_compat import STORE_SCHEME
from stream.processor import StreamProcessor
from stream.settings import Settings
from stream.worker import agents, catalogue_reader, recovery, timers, views, watchdog
from stream.worker.context import Worker
from stream.worker.tables import MAX_STATE_MESSAGE_BYTES, declare_tables
from stream.worker.topics import declare_topics
from wnn.config import WNNConfig

log = logging.getLogger(__name__)


def create_worker(
    settings: Settings | None = None,
    config: WNNConfig | None = None,
    processor: StreamProcessor | None = None,
    store: str = f"{STORE_SCHEME}://",
    follow_catalogue: bool | None = None,
) -> Worker:
    """A worker for ``settings``; ``worker.app.main()`` runs it.

    ``store`` is the table store; unit tests pass ``"memory://"`` to run the agent through its ``test_context()``.
    ``follow_catalogue`` (default: with a RocksDB store, i.e. a real worker) reads the ``items`` topic before the
    first rating and follows it; without it the caller gives the processor its catalogue.
    """
    settings = settings or Settings()
    # Refuses to build a worker whose API would be open by accident, or whose erase token is unusable.
    tokens = ApiTokens(settings.resolved_api_token(), settings.resolved_erase_token())
    if tokens.read is None:
        log.warning(
            "THE HTTP API RUNS WITHOUT AUTHENTICATION (--insecure-no-auth): anyone who reaches %s:%d can "
            "read and delete every user's ratings",
            settings.web_bind,
            settings.web_port,
        )
    processor = processor or StreamProcessor(settings, config)
    app = new_faust_app(
        settings.faust_id,
        settings,
        batched_topics=frozenset({settings.ratings_topic}),
        guarded_topics=frozenset({settings.ratings_topic}),
        store=store,
        datadir=str(settings.state_dir),
        web_port=settings.web_port,
        # The address other workers route API requests to (faust's canonical URL) and the one this one listens on.
        web_host=settings.web_advertised_host
        or (settings.web_bind if settings.web_bind not in ("0.0.0.0", "::") else socket.gethostname()),
        web_bind=settings.web_bind,
        producer_linger_ms=5,
        producer_max_request_size=MAX_STATE_MESSAGE_BYTES,
    )
    worker = Worker(
        app=app,
        settings=settings,
        processor=processor,
        topics=declare_topics(app, settings),
        tables=declare_tables(app, settings, on_share=functools.partial(recovery.apply_share, processor)),
        tokens=tokens,
        store_in_key_order=store.startswith(STORE_SCHEME),
    )
    if follow_catalogue is None:
        follow_catalogue = store.startswith(STORE_SCHEME)
    if follow_catalogue:
        catalogue_reader.register(worker)
    else:
        worker.catalogue_ready.set()
    worker.agent = agents.register(worker)
    recovery.register(worker)
    watchdog.register(worker)
    timers.register(worker)
    views.register(worker)
    return worker
