import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from wnn.taste_change import WindowState, scan, step

PARAMS = dict(allowance=0.5, threshold=3.0, prior=6.0)


def learned_one_by_one(units: np.ndarray) -> WindowState:
    state = WindowState()
    for i, value in enumerate(units.tolist()):
        state = step(state, value, PARAMS["allowance"], PARAMS["threshold"], units[: i + 1], PARAMS["prior"])
    return state


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-1152, 1152), max_size=120))
def test_the_vectorised_scan_equals_learning_one_by_one_bit_for_bit(steps):
    """Residual units as the network derives them: the scan (a forget, a changed baseline) and the step (learning)
    must leave the identical state, floats included."""
    units = np.array(steps, dtype=np.int64)
    assert scan(units, **PARAMS) == learned_one_by_one(units)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-1152, 1152), min_size=1, max_size=80))
def test_the_window_sum_is_the_sum_of_its_residuals(steps):
    units = np.array(steps, dtype=np.int64)
    state = scan(units, **PARAMS)
    assert 0 <= state.start < len(units) or state.start == 0
    assert state.pairs == len(units) - state.start
    assert state.total == int(units[state.start :].sum())


def test_the_statistics_are_the_cusum_recursion():
    """Lindley form: S - min(0, min S) equals max(0, r + increment), up to float rounding."""
    rng = np.random.default_rng(3)
    units = rng.integers(-300, 300, 50)
    state, rise = WindowState(), 0.0
    for i, value in enumerate(units.tolist()):
        excess = value / 256 - (state.total / 256) / (state.pairs + 1.0)
        rise = max(0.0, rise + excess - 0.5)
        state = step(state, value, 0.5, 1e9, units[: i + 1])
        assert abs(state.rise_statistic - rise) < 1e-9


def test_a_steady_user_keeps_one_window():
    rng = np.random.default_rng(0)
    units = np.rint(np.clip(rng.normal(0.4, 0.8, 500), -3, 3) * 256)
    assert scan(units, allowance=0.5, threshold=6.0, prior=6.0).start == 0


def test_a_flip_restarts_the_window_at_the_change():
    rng = np.random.default_rng(1)
    before = rng.normal(0.8, 0.5, 60)
    after = rng.normal(-1.5, 0.5, 8)
    state = scan(np.rint(np.concatenate((before, after)) * 256), allowance=0.5, threshold=6.0, prior=6.0)
    assert 58 <= state.start <= 62
