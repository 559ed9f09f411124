"""What one output message costs the worker's producer: faust's producer with the worker's settings, no other work.

``wnnrec bench pipeline`` runs it in the same run as the worker, so the worker's output cost is quoted against what
the producer itself costs on this machine with these settings. It sends ``N`` messages of ``SIZE`` bytes to a probe
topic with ``send_soon`` (as the worker's agent sends its lists, drift records and dead letters), waits until every
one is delivered, and reports the process CPU time and the wall time per message, after a warm-up of the same.
Then it does the same with a bare aiokafka producer (same linger, no faust), the floor under any Python output path.

Run as ``python -m wnnrec.bench.producer N SIZE OUT.json`` with the worker's ``WNNREC_*`` environment.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import faust

from stream.faust_app import new_faust_app
from stream.settings import Settings
from stream.worker.tables import MAX_STATE_MESSAGE_BYTES

#: Messages sent and delivered before the timed ones (connections, metadata, the producer's first batches).
WARMUP_MESSAGES = 2_000


async def send_raw(settings: Settings, topic: str, n: int, size: int) -> tuple[float, float]:
    """The same with a bare aiokafka producer (``linger_ms`` 5, as the worker's): CPU and wall seconds."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5, **settings.aiokafka_options())
    await producer.start()
    try:
        value = b"x" * size
        for warm in (True, False):
            count = WARMUP_MESSAGES if warm else n
            cpu, wall = time.process_time(), time.perf_counter()
            futures = [await producer.send(topic, key=str(k % 1000).encode(), value=value) for k in range(count)]
            await asyncio.gather(*futures)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        return cpu, wall
    finally:
        await producer.stop()


async def send_all(topic: Any, n: int, size: int) -> tuple[float, float]:
    """Send ``n`` messages of ``size`` bytes with ``send_soon`` and wait for their delivery; CPU and wall seconds."""
    value = b"x" * size
    cpu, wall = time.process_time(), time.perf_counter()
    futures = [topic.send_soon(key=str(k % 1000).encode(), value=value) for k in range(n)]
    await asyncio.gather(*futures)
    return time.process_time() - cpu, time.perf_counter() - wall


def create_producer_app(settings: Settings, n: int, size: int, out_path: str) -> faust.App:
    """A faust app with the worker's producer settings whose one task measures ``n`` sends and exits."""
    app = new_faust_app(
        f"{settings.faust_id}-producer",
        settings,
        store="memory://",
        datadir=str(settings.state_dir / "producer"),
        web_enabled=False,
        producer_linger_ms=5,
        producer_max_request_size=MAX_STATE_MESSAGE_BYTES,
    )
    topic = app.topic(settings.topic("producer-probe"), key_serializer="raw", value_serializer="raw")

    @app.task
    async def measure() -> None:
        await send_all(topic, WARMUP_MESSAGES, size)
        cpu_s, wall_s = await send_all(topic, n, size)
        raw_cpu_s, raw_wall_s = await send_raw(settings, topic.get_topic_name(), n, size)
        with open(out_path, "w") as f:
            json.dump(
                {
                    "messages": n,
                    "bytes": size,
                    "cpu_s": cpu_s,
                    "wall_s": wall_s,
                    "raw_cpu_s": raw_cpu_s,
                    "raw_wall_s": raw_wall_s,
                },
                f,
            )

    return app


def main(argv: list[str]) -> int:
    n, size, out_path = int(argv[0]), int(argv[1]), argv[2]
    settings = Settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    app = create_producer_app(settings, n, size, out_path)
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
