import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from wnn.drift import UserDrift, js_divergence


@pytest.mark.parametrize("seed", range(5))
def test_js_divergence_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    p, q = rng.random(19) * (rng.random(19) > 0.3), rng.random(19)
    assert js_divergence(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-9)


def test_rising_error_raises_the_drift_flag():
    monitor = UserDrift()
    flags = [monitor.update(0.3, np.array([1, 0])).drift for _ in range(40)]
    flags += [monitor.update(3.0, np.array([1, 0])).drift for _ in range(15)]
    assert not any(flags[:40]) and any(flags[40:])


def test_state_round_trip_continues_identically():
    a = UserDrift()
    for t in range(25):
        a.update(0.1 * (t % 7), np.array([t % 2, 1 - t % 2, 0]))
    b = UserDrift.from_bytes(a.to_bytes())
    assert b.to_bytes() == a.to_bytes() and b.taste_shift == a.taste_shift
    reports_a = [a.update(0.2 * t, np.array([0, 0, 1])) for t in range(30)]
    reports_b = [b.update(0.2 * t, np.array([0, 0, 1])) for t in range(30)]
    assert reports_a == reports_b and any(r.drift for r in reports_a)


def test_stored_drift_state_holds_no_pickle():
    """Bytes from a table must never run code: the state is plain msgpack numbers and arrays."""
    import msgpack

    monitor = UserDrift()
    monitor.update(1.0, np.array([1, 0]))
    doc = msgpack.unpackb(monitor.to_bytes(), raw=False)
    assert set(doc) == {"v", "n", "drifts", "w", "recent", "long", "ph"}
    assert all(isinstance(x, (int, float, bool)) for x in doc["ph"])


def test_corrupt_drift_state_is_a_value_error():
    with pytest.raises(ValueError, match="corrupt"):
        UserDrift.from_bytes(b"nope")
