import subprocess
import sys

import numpy as np

from wnn.encoding import MOVIELENS_GENRES, CategoryBucketer, thermometer


def test_known_genres_get_their_own_slot():
    bucketer = CategoryBucketer()
    assert [bucketer.slot(g) for g in MOVIELENS_GENRES] == list(range(19))
    assert bucketer.slot("sci fi") == bucketer.slot("Sci-Fi")


def test_unseen_genre_maps_onto_a_known_slot_deterministically():
    bucketer = CategoryBucketer()
    slot = bucketer.slot("Afrofuturism")
    assert 0 <= slot < bucketer.n_slots
    assert bucketer.slot("afrofuturism ") == slot
    # Same slot in a fresh interpreter: Python's salted str hash must not be involved.
    code = "from wnn.encoding import CategoryBucketer; print(CategoryBucketer().slot('Afrofuturism'))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "12345"}
    )
    assert int(out.stdout) == slot


def test_unseen_genres_spread_over_slots():
    bucketer = CategoryBucketer()
    slots = {bucketer.slot(f"new-genre-{i}") for i in range(200)}
    assert len(slots) == bucketer.n_slots


def test_encode_is_multi_hot():
    bits = CategoryBucketer(["A", "B", "C"]).encode(["A", "C", "C"])
    assert bits.tolist() == [1, 0, 1]


def test_vocabulary_must_fit():
    import pytest

    with pytest.raises(ValueError, match="do not fit"):
        CategoryBucketer(["a", "b", "c"], n_slots=2)


def test_thermometer_scalar_and_vector():
    assert thermometer(3.6, (3.0, 3.5, 4.0)).tolist() == [1, 1, 0]
    assert thermometer(np.array([0.0, 5.0]), (1.0, 2.0)).tolist() == [[0, 0], [1, 1]]
