"""Per-user drift monitoring: is the network's error growing, and is the user's taste moving?

Two signals per user, updated with each rating before the network learns it:

* the absolute prediction error fed to River's :class:`~river.drift.PageHinkley` detector (``mode="up"``: only a
  *rise* in error is drift), which raises ``drift`` when this user's model stops fitting them;
* a taste shift: the Jensen–Shannon divergence (base 2, in [0, 1]) between the genre mix of the user's recent ratings
  (exponentially weighted, ``recent_weight`` per event) and their long-run mix.

>>> monitor = UserDrift()
>>> for _ in range(20):
...     report = monitor.update(error=0.2, genres=np.array([1, 0, 0]))
>>> report.drift, round(monitor.taste_shift, 3)
(False, 0.0)
>>> for _ in range(5):
...     report = monitor.update(error=0.2, genres=np.array([0, 0, 1]))
>>> monitor.taste_shift > 0.1
True
"""

from __future__ import annotations

import dataclasses

import msgpack
import numpy as np
from river import drift

FORMAT_VERSION = 2


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence in bits of two non-negative vectors (normalised here).

    Written out because it runs once per event: scipy.spatial.distance.jensenshannon measured 33 µs a call here,
    this 6 µs; the tests check both agree.
    """
    p = p / p.sum()
    q = q / q.sum()
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(max(0.5 * (kl_p + kl_q), 0.0))


@dataclasses.dataclass(frozen=True)
class DriftReport:
    """What one rating told the monitor."""

    abs_error: float
    drift: bool
    n_ratings: int


class UserDrift:
    """Drift detector and taste-shift tracker of one user. See the module docstring."""

    def __init__(self, threshold: float = 8.0, min_instances: int = 10, delta: float = 0.05,
                 recent_weight: float = 0.2) -> None:
        self.detector = drift.PageHinkley(min_instances=min_instances, delta=delta, threshold=threshold, mode="up")
        self.recent_weight = recent_weight
        self.recent: np.ndarray | None = None
        self.long_run: np.ndarray | None = None
        self.n_ratings = 0
        self.n_drifts = 0

    def update(self, error: float, genres: np.ndarray) -> DriftReport:
        """Fold in one rating's prediction error (predicted minus actual) and its item's genre bits."""
        abs_error = abs(float(error))
        self.detector.update(abs_error)
        detected = bool(self.detector.drift_detected)
        self.n_drifts += detected
        mix = np.asarray(genres, dtype=np.float64)
        total = mix.sum()
        mix = mix / total if total else mix
        if self.recent is None:
            self.recent, self.long_run = mix.copy(), mix.copy()
        else:
            self.recent = (1 - self.recent_weight) * self.recent + self.recent_weight * mix
            self.long_run = self.long_run + mix
        self.n_ratings += 1
        return DriftReport(abs_error, detected, self.n_ratings)

    @property
    def taste_shift(self) -> float:
        """JS divergence between the recent and the long-run genre mix (0 before any genre was seen)."""
        if self.recent is None or not self.recent.sum() or not self.long_run.sum():
            return 0.0
        return js_divergence(self.recent, self.long_run)

    # PageHinkley's running state, by attribute name. River models are meant to be pickled, but bytes from a table
    # must never be able to run code, so the detector travels as these numbers and is rebuilt from them.
    _DETECTOR_FIELDS = ("_sum_increase", "_sum_decrease", "_min_increase", "_max_decrease", "_drift_detected")

    def to_bytes(self) -> bytes:
        """msgpack state: numbers and raw float64 arrays only (no pickle)."""
        detector = self.detector
        return msgpack.packb({
            "v": FORMAT_VERSION, "n": self.n_ratings, "drifts": self.n_drifts, "w": self.recent_weight,
            "recent": None if self.recent is None else self.recent.tobytes(),
            "long": None if self.long_run is None else self.long_run.tobytes(),
            "ph": [detector._x_mean.n, detector._x_mean._mean] + [getattr(detector, f) for f in
                                                                 self._DETECTOR_FIELDS],
        }, use_bin_type=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> "UserDrift":
        """Rebuild a monitor from :meth:`to_bytes`; raises ValueError with the reason for anything else."""
        try:
            doc = msgpack.unpackb(data, raw=False)
            if doc["v"] != FORMAT_VERSION:
                raise ValueError(f"format version {doc['v']!r}, expected {FORMAT_VERSION}")
            monitor = cls(recent_weight=float(doc["w"]))
            monitor.n_ratings, monitor.n_drifts = int(doc["n"]), int(doc["drifts"])
            if doc["recent"] is not None:
                monitor.recent = np.frombuffer(doc["recent"], dtype=np.float64).copy()
                monitor.long_run = np.frombuffer(doc["long"], dtype=np.float64).copy()
                if monitor.recent.shape != monitor.long_run.shape:
                    raise ValueError("genre mixes of different lengths")
            n, mean, *fields = doc["ph"]
            if len(fields) != len(cls._DETECTOR_FIELDS):
                raise ValueError("detector state has the wrong length")
            detector = monitor.detector
            detector._x_mean.n, detector._x_mean._mean = float(n), float(mean)
            for name, value in zip(cls._DETECTOR_FIELDS, fields):
                setattr(detector, name, bool(value) if name == "_drift_detected" else float(value))
        except Exception as exc:  # msgpack, key, type and value errors all mean the same thing here
            raise ValueError(f"drift state is corrupt ({type(exc).__name__}: {exc})") from None
        return monitor
