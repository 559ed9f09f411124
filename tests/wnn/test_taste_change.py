import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from wnn.residuals import RESIDUAL_QUANTUM
from wnn.taste_change import WindowState, restarted, scan, step

PARAMS = dict(allowance=0.5, threshold=3.0, prior=6.0)


def learned_one_by_one(residuals: np.ndarray) -> WindowState:
    state = WindowState()
    for i, residual in enumerate(residuals.tolist()):
        state = restarted(step(state, residual, **PARAMS), residuals[: i + 1])
    return state


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-1024, 1024), max_size=80))
def test_scan_equals_learning_one_by_one(steps):
    residuals = np.array(steps, dtype=np.float32) * RESIDUAL_QUANTUM  # fixed-point, as the network stores them
    assert scan(residuals, **PARAMS) == learned_one_by_one(residuals)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-1024, 1024), min_size=1, max_size=80))
def test_the_window_sum_is_the_sum_of_its_residuals(steps):
    residuals = np.array(steps, dtype=np.float32) * RESIDUAL_QUANTUM
    state = scan(residuals, **PARAMS)
    assert 0 <= state.start < len(residuals) or state.start == 0
    assert state.count == len(residuals) - state.start
    assert state.total == float(residuals[state.start:].astype(np.float64).sum())


def test_a_steady_user_keeps_one_window():
    rng = np.random.default_rng(0)
    residuals = np.clip(rng.normal(0.4, 0.8, 500), -3, 3).astype(np.float32)
    assert scan(residuals, allowance=0.5, threshold=6.0, prior=6.0).start == 0


def test_a_flip_restarts_the_window_at_the_change():
    rng = np.random.default_rng(1)
    before = rng.normal(0.8, 0.5, 60)
    after = rng.normal(-1.5, 0.5, 8)
    state = scan(np.concatenate((before, after)).astype(np.float32), allowance=0.5, threshold=6.0, prior=6.0)
    assert 58 <= state.start <= 62
