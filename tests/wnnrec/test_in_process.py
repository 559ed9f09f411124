"""The processor-alone benchmarks: they replay a stream through the processor and time it, and refuse to time a
stream the processor dead-letters."""

from __future__ import annotations

import pytest

from stream.batch import Incoming
from stream.processor import StreamProcessor
from stream.settings import Settings
from tests.conftest import synthetic_dataset
from wnnrec.bench.in_process import bench_dataset, drive, rating_batches


def test_a_dataset_replays_through_the_processor_and_every_user_is_learned():
    dataset = synthetic_dataset(n_users=12, n_items=20, n_ratings=400)
    result = bench_dataset(Settings(batch_max=50), dataset, limit=300, progress=False)
    assert result["n_events"] == 300 and result["us_per_rating"] > 0 and result["batch_max"] == 50


def test_a_dead_lettered_input_stops_the_benchmark():
    processor = StreamProcessor(catalogue=synthetic_dataset())
    good = next(iter(rating_batches(["u"], ["1"], [4.0], [0], 10, 4)))
    with pytest.raises(RuntimeError, match="dead-lettered"):
        drive(processor, [good + [Incoming(b"u", b"not json", good[0].partition, 1)]], share_interval_s=1.0)
