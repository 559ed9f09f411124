"""The rating scale in one place: its derived numbers, its text form, and a model that predicts on its own scale."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import synthetic_dataset
from wnn.config import WNNConfig
from wnn.rating_scale import HALF_STARS, WHOLE_STARS, RatingScale
from wnn.recommender import WNNRecommender
from wnnrec.evaluation import run_prequential


def test_the_whole_star_scale_gives_the_numbers_the_model_always_used():
    assert (WHOLE_STARS.prior_mean, WHOLE_STARS.like_threshold, WHOLE_STARS.like_prediction_threshold) == (3.5, 4, 3.5)
    assert WHOLE_STARS.mean_thresholds == (2.75, 3.0, 3.25, 3.5, 3.75, 4.0)
    assert WNNConfig().rating_scale == WHOLE_STARS and WNNConfig().prior_mean == 3.5


def test_half_stars_make_4_and_up_a_like():
    likes = [r for r in np.arange(0.5, 5.01, 0.5) if r >= HALF_STARS.like_threshold]
    assert likes == [4.0, 4.5, 5.0]


@given(
    low=st.floats(-1000, 1000, allow_nan=False),
    span=st.floats(0.01, 1000, allow_nan=False),
    steps=st.integers(1, 100),
)
def test_the_text_form_reads_back_exactly(low, span, steps):
    high = low + span
    if not low < high:
        return
    scale = RatingScale(low, high, (high - low) / steps)
    assert RatingScale.parse(str(scale)) == scale


@pytest.mark.parametrize(
    "text, reason",
    [("5:1", "below its highest"), ("1:5:0", "step must be positive"), ("one:five", "made of numbers"), ("1", "LOW")],
)
def test_a_bad_scale_is_refused_with_a_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        RatingScale.parse(text)


def test_a_table_cell_that_could_overflow_is_refused():
    with pytest.raises(ValueError, match="max_pairs must be at most 83,886"):
        WNNConfig(rating_scale=RatingScale(0.0, 100.0), max_pairs=100_000)


def test_half_star_data_is_predicted_on_its_own_scale():
    """A user who gives everything half a star is predicted below 1, which the 1-5 scale could not say."""
    model = WNNRecommender(WNNConfig(rating_scale=HALF_STARS))
    for t in range(30):
        model.learn_one("grump", f"i{t % 10}", 0.5, ts=1_000 + t, event_id=t)
        model.learn_one(f"other{t}", f"i{t % 10}", 0.5, ts=1_000 + t, event_id=100 + t)
    prediction = model.predict_one("grump", "i3")
    assert 0.5 <= prediction.rating < 1.0 and prediction.like_probability < 0.2


def _rescaled(dataset, factor: float):
    """The same ratings on a scale ``factor`` times as wide (1-5 becomes factor..5*factor)."""
    low, high = factor * dataset.scale.low, factor * dataset.scale.high
    return dataclasses.replace(
        dataset, ratings=dataset.ratings * np.float32(factor), scale=RatingScale(low, high, factor)
    )


def test_the_model_behaves_alike_on_a_rescaled_copy_of_the_data():
    """Every scale-dependent number is a position on the scale, so the same ratings in other units give the same
    predictions in those units, up to the 1/256-star rounding of residuals (and what a rounding flips)."""
    dataset = synthetic_dataset(n_ratings=1500)
    runs = {
        factor: run_prequential(_rescaled(dataset, factor), ["wnn", "user-mean"], rank=False, progress=False)
        for factor in (1.0, 2.0)
    }
    for name in ("wnn", "user-mean"):
        one, two = (next(r for r in runs[f] if r["model"] == name and "prior_ratings" not in r) for f in (1, 2))
        assert two["mae"] == pytest.approx(2 * one["mae"], rel=0.001)
        assert two["like_acc"] == pytest.approx(one["like_acc"], abs=0.005)
        assert two["within1_acc"] == pytest.approx(one["within1_acc"], abs=0.005)
