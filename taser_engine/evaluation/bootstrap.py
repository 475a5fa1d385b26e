"""Percentile bootstrap intervals: of one run's accuracy, and paired, of accuracy differences
between runs (Table 2).

Both runs are evaluated on the same points, so the bootstrap resamples *points* and recomputes
both accuracies on the same resample: the per-point pairing removes the variance that the two
runs share. Several pairs on the same points (the table's "Avg." rows) are resampled jointly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

N_BOOTSTRAP = 10_000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class DeltaCI:
    delta: float  # mean(with) - mean(without), a fraction
    low: float
    high: float
    confidence: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict:
        return {"delta": self.delta, "low": self.low, "high": self.high,
                "confidence": self.confidence, "excludes_zero": self.excludes_zero}


def paired_bootstrap_delta(without, with_, *, n_boot: int = N_BOOTSTRAP,
                           confidence: float = CONFIDENCE, seed: int = BOOTSTRAP_SEED) -> DeltaCI:
    """Percentile CI for mean(with_) - mean(without) over per-point scores on the same points.

    `without` and `with_` are arrays of shape (n,) or (k, n): k pairs of runs on the same n points;
    the statistic is then the mean over pairs of the per-pair difference, and every bootstrap
    replicate uses one resample of the n points for all pairs.
    """
    a = np.atleast_2d(np.asarray(without, dtype=np.float64))
    b = np.atleast_2d(np.asarray(with_, dtype=np.float64))
    if a.shape != b.shape:
        raise ValueError(f"paired scores must have equal shapes, got {a.shape} and {b.shape}")
    if a.shape[1] == 0:
        raise ValueError("paired scores are empty")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    per_point = (b - a).mean(axis=0)  # mean over pairs; the statistic is its mean over points
    low, high = _mean_interval(per_point, n_boot, confidence, seed)
    return DeltaCI(float(per_point.mean()), low, high, confidence)


def bootstrap_interval(correct: Sequence[int | bool], n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of a 0/1 vector (per-sample correctness);
    (nan, nan) when it is empty."""
    values = np.asarray(correct, dtype=float)
    if values.size == 0:
        return (float("nan"), float("nan"))
    return _mean_interval(values, n_boot, CONFIDENCE, seed)


def _mean_interval(per_point: np.ndarray, n_boot: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile interval of the mean of `per_point` over `n_boot` resamples of its points."""
    rng = np.random.default_rng(seed)
    n = per_point.size
    replicates = np.empty(n_boot)
    for start in range(0, n_boot, 1000):  # chunks keep memory at 1000 × n
        stop = min(start + 1000, n_boot)
        draws = rng.integers(0, n, size=(stop - start, n))
        replicates[start:stop] = per_point[draws].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    return float(low), float(high)
