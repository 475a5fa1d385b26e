"""The two-level (seeds, then points) bootstrap against its two limits and an independent loop."""

from __future__ import annotations

import numpy as np
import pytest

from taser_engine.evaluation.bootstrap import paired_bootstrap_delta
from taser_engine.evaluation.seed_bootstrap import mean_and_sd, seed_point_bootstrap_delta


def _correct(rng, accuracy, shape):
    return (rng.random(shape) < accuracy).astype(float)


def test_one_seed_reduces_to_the_paired_point_bootstrap():
    rng = np.random.default_rng(1)
    without, with_ = _correct(rng, 0.6, (1, 400)), _correct(rng, 0.7, (1, 400))
    two_level = seed_point_bootstrap_delta(without, with_, n_boot=4000)
    points_only = paired_bootstrap_delta(without[0], with_[0], n_boot=4000)
    assert two_level.delta == pytest.approx(points_only.delta)
    assert two_level.low == pytest.approx(points_only.low, abs=0.01)
    assert two_level.high == pytest.approx(points_only.high, abs=0.01)


def test_constant_points_give_the_bootstrap_of_the_seed_means():
    # every point of a seed has the same difference: only the seed level varies
    seed_effects = np.array([0.02, 0.10, -0.04, 0.07, 0.01])
    without = np.zeros((5, 50))
    with_ = np.repeat(seed_effects[:, None], 50, axis=1)
    ci = seed_point_bootstrap_delta(without, with_, n_boot=4000, seed=3)
    rng = np.random.default_rng(11)  # an independent loop over seed resamples
    reference = [seed_effects[rng.integers(0, 5, 5)].mean() for _ in range(4000)]
    low, high = np.quantile(reference, [0.025, 0.975])
    assert ci.delta == pytest.approx(seed_effects.mean())
    assert ci.low == pytest.approx(low, abs=0.01) and ci.high == pytest.approx(high, abs=0.01)


def test_seed_spread_widens_the_interval_beyond_the_pooled_point_bootstrap():
    rng = np.random.default_rng(5)
    accuracy_with = 0.65 + np.array([-0.15, 0.0, 0.15])  # training seeds that disagree a lot
    without = _correct(rng, 0.6, (3, 300))
    with_ = np.stack([_correct(rng, a, 300) for a in accuracy_with])
    two_level = seed_point_bootstrap_delta(without, with_, n_boot=3000)
    pooled = paired_bootstrap_delta(without, with_, n_boot=3000)  # seeds treated as fixed pairs
    assert two_level.high - two_level.low > 1.5 * (pooled.high - pooled.low)
    assert two_level.low < two_level.delta < two_level.high


def test_avg_rows_resample_methods_jointly_and_average_them():
    rng = np.random.default_rng(7)
    without = _correct(rng, 0.5, (2, 3, 200))
    with_ = _correct(rng, 0.6, (2, 3, 200))
    ci = seed_point_bootstrap_delta(without, with_, n_boot=1000)
    assert ci.delta == pytest.approx((with_ - without).mean())


@pytest.mark.parametrize("shapes", [((3, 10), (2, 10)), ((10,), (10,)), ((0, 5), (0, 5))])
def test_bad_shapes_are_refused(shapes):
    with pytest.raises(ValueError):
        seed_point_bootstrap_delta(np.zeros(shapes[0]), np.zeros(shapes[1]))


def test_mean_and_sd():
    assert mean_and_sd([0.5]) == (0.5, None)
    mean, sd = mean_and_sd([0.4, 0.6])
    assert mean == pytest.approx(0.5) and sd == pytest.approx(np.std([0.4, 0.6], ddof=1))
