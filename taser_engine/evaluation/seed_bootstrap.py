"""Confidence intervals for a with/without-TASER difference over seeds *and* evaluation points.

`bootstrap.paired_bootstrap_delta` resamples evaluation points only: right for one pair of runs,
but with several seeds per cell it would treat the seed-to-seed spread of training as if it were
not there, and seed variation is large here (the 1D study needs ≥5 seeds to separate methods).
A study's interval therefore comes from a two-level bootstrap:

1. resample the seeds of each method with replacement, keeping seed *s* of the run without TASER
   paired with seed *s* of the run with TASER (they share data order and initialisation, so the
   pairing removes the variance they share, as the point pairing does);
2. resample the evaluation points once per replicate, for every run alike (all runs of a study are
   evaluated on the same points, so this keeps the per-point pairing between methods and seeds).

The statistic is the mean over methods of the mean over resampled seeds of the mean over resampled
points of (with − without). With one seed it reduces to the paired point bootstrap, and with many
points it approaches a bootstrap of the seed means: both limits are tested. Resampling the top level
(seeds) and the bottom level (points) both, rather than seeds alone, is the standard "two-stage"
choice for nested designs (Davison & Hinkley 1997, §3.8); it slightly overstates the variance, which
for a claim about robustness errs on the side of caution.
"""

from __future__ import annotations

import numpy as np

from taser_engine.evaluation.bootstrap import BOOTSTRAP_SEED, CONFIDENCE, N_BOOTSTRAP, DeltaCI

_CHUNK = 500  # replicates drawn at once: memory is _CHUNK × methods × seeds × points floats


def seed_point_bootstrap_delta(without, with_, *, n_boot: int = N_BOOTSTRAP, confidence: float = CONFIDENCE,
                               seed: int = BOOTSTRAP_SEED) -> DeltaCI:
    """Percentile CI for mean(with_) − mean(without) over methods, seeds and points.

    `without` and `with_` are per-point scores (0/1 correctness, or the robust average's 0/½/1) of
    shape (seeds, points) for one method or (methods, seeds, points) for the table's Avg. rows;
    index [m, s] of one array is paired with index [m, s] of the other.
    """
    a = np.asarray(without, dtype=np.float64)
    b = np.asarray(with_, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired scores must have equal shapes, got {a.shape} and {b.shape}")
    if a.ndim == 2:
        a, b = a[None], b[None]
    if a.ndim != 3:
        raise ValueError(f"scores must have shape (seeds, points) or (methods, seeds, points), got {a.shape}")
    methods, seeds, points = a.shape
    if seeds == 0 or points == 0:
        raise ValueError("paired scores are empty")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    difference = b - a  # (methods, seeds, points)
    rng = np.random.default_rng(seed)
    replicates = np.empty(n_boot)
    method_index = np.arange(methods)[None, :, None]
    for start in range(0, n_boot, _CHUNK):
        stop = min(start + _CHUNK, n_boot)
        k = stop - start
        seed_draws = rng.integers(0, seeds, size=(k, methods, seeds))
        # per replicate and method: the per-point difference averaged over the resampled seeds
        per_point = difference[method_index, seed_draws].mean(axis=2)  # (k, methods, points)
        point_draws = rng.integers(0, points, size=(k, 1, points))
        replicates[start:stop] = np.take_along_axis(per_point, point_draws, axis=2).mean(axis=(1, 2))
    tail = (1 - confidence) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    return DeltaCI(float(difference.mean()), float(low), float(high), confidence)


def mean_and_sd(values) -> tuple[float, float | None]:
    """Mean over seeds and the sample standard deviation (None with one seed: no spread measured)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError("no values to summarise")
    return float(array.mean()), (float(array.std(ddof=1)) if array.size > 1 else None)
