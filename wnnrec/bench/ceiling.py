"""The framework's own ceiling: a bare faust agent with the worker's consumer settings and no work.

``wnnrec bench pipeline`` runs it in the same run as the worker, on the same ratings topic, so the worker's rate is
quoted against what faust itself can do on this machine with these settings (the same transport and fetch wait,
poll size, commit cadence and batching), not against a number from another day. It runs twice: on the per-message
path (``WNNREC_BATCH_DELIVERY=0``: one faust message per rating, gathered by ``take_events``) and on the batch path
the worker uses (one message per partition per fetch, :mod:`stream.faust_compat`).

Run as ``python -m wnnrec.bench.ceiling EXPECTED OUT.json`` with the worker's ``WNNREC_*`` environment: it consumes the
ratings topic from the start under a fresh group, writes the wall-clock times of its first and its EXPECTED-th
event to OUT.json, and exits.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import faust

from stream.faust_app import new_faust_app
from stream.faust_compat import records_of
from stream.settings import Settings


def create_ceiling_app(settings: Settings, expected: int, out_path: str) -> faust.App:
    app = new_faust_app(
        f"{settings.faust_id}-ceiling",
        settings,
        batched_topics=frozenset({settings.ratings_topic}),
        store="memory://",
        datadir=str(settings.state_dir / "ceiling"),
        web_enabled=False,
    )
    ratings = app.topic(settings.ratings_topic, key_serializer="raw", value_serializer="raw")
    seen: dict[str, Any] = {"n": 0, "first": None}
    events_per_step = 1 if settings.batch_delivery else settings.batch_max  # as the worker's agent

    @app.agent(ratings)
    async def count(stream: Any) -> None:
        async for events in stream.take_events(events_per_step, within=settings.batch_linger_s):
            if seen["first"] is None:
                seen["first"] = time.time()
            seen["n"] += sum(len(records_of(event)) for event in events)
            if seen["n"] >= expected:
                with open(out_path, "w") as f:
                    json.dump({"events": seen["n"], "first": seen["first"], "last": time.time()}, f)
                seen["n"] = -(10**12)  # report once

    return app


def main(argv: list[str]) -> int:
    expected, out_path = int(argv[0]), argv[1]
    settings = Settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    app = create_ceiling_app(settings, expected, out_path)
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
