"""DiffusionScore conversion, normalisation and loading (paper C.4)."""

from __future__ import annotations

import math

import pytest
import torch

from scores_oracle import GaussianOracle, ddpm_scheduler, tiny_unet

pytestmark = pytest.mark.usefixtures("one_thread")
from taser_engine.scores import (
    DiffusionScore, ScoreModelError, ScoreNormalisation, calibrate_normalisation, load_score_source,
)

SHAPE = (1, 2, 2)  # image-shaped so the same code path as real images is exercised


def _gaussian_problem(seed: int = 0):
    """Data in classifier coordinates [0, 1]: x ~ N(m, C) with a full covariance."""
    gen = torch.Generator().manual_seed(seed)
    d = math.prod(SHAPE)
    m = 0.3 + 0.4 * torch.rand(d, generator=gen, dtype=torch.float64)
    a = 0.1 * torch.randn(d, d, generator=gen, dtype=torch.float64)
    cov = a @ a.T + 0.01 * torch.eye(d, dtype=torch.float64)
    return m, cov


def _expected_score(x, m, cov, alpha_bar):
    """By hand: x' = 2x − 1 ~ N(2m − 1, 4C); p_τ = N(√ᾱ(2m − 1), 4ᾱC + σ²I); ∇ₓ = 2∇ₓ'."""
    d = m.numel()
    sigma2 = 1 - alpha_bar
    precision = torch.linalg.inv(4 * alpha_bar * cov + sigma2 * torch.eye(d, dtype=torch.float64))
    z = 2 * x.flatten(1).double() - 1 - math.sqrt(alpha_bar) * (2 * m - 1)
    return (-2 * z @ precision.T).view_as(x)


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("timestep", [50, 200])
def test_conversion_matches_closed_form_gaussian_score(prediction_type, timestep):
    m, cov = _gaussian_problem()
    scheduler = ddpm_scheduler(prediction_type)
    oracle = GaussianOracle(scheduler, 2 * m - 1, 4 * cov, prediction_type)
    source = DiffusionScore(oracle, scheduler, timestep)
    x = torch.rand(16, *SHAPE, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = _expected_score(x, m, cov, float(scheduler.alphas_cumprod[timestep]))
    torch.testing.assert_close(source(x), expected, rtol=1e-5, atol=1e-6)


def test_sigma_at_50_is_the_reference_value():
    source = DiffusionScore(GaussianOracle(ddpm_scheduler(), torch.zeros(1), torch.eye(1)), ddpm_scheduler(), 50)
    assert source.sigma == pytest.approx(0.17335, abs=1e-4)
    assert source.alpha_bar == pytest.approx(0.96995, abs=1e-4)


def test_noised_pairs_are_scored_at_the_noised_point():
    m, cov = _gaussian_problem()
    scheduler = ddpm_scheduler()
    source = DiffusionScore(GaussianOracle(scheduler, 2 * m - 1, 4 * cov), scheduler, 50, noise_input=True,
                            generator=torch.Generator().manual_seed(3))
    x = torch.rand(32, *SHAPE, dtype=torch.float64)
    x_t, s = source.noised_pair(x, torch.Generator().manual_seed(4))
    assert (x_t - x).abs().max() > 1e-3  # it was noised
    torch.testing.assert_close(s, _expected_score(x_t, m, cov, source.alpha_bar), rtol=1e-5, atol=1e-6)
    a, b = source(x), source(x)  # noise_input=True draws fresh noise per call
    assert (a - b).abs().max() > 1e-3


def test_normalisation_constants_standardise_the_score_magnitude(tmp_path):
    m, cov = _gaussian_problem()
    scheduler = ddpm_scheduler()
    oracle = GaussianOracle(scheduler, 2 * m - 1, 4 * cov)
    x = (m + torch.randn(256, m.numel(), dtype=torch.float64) @ torch.linalg.cholesky(cov).T).view(-1, *SHAPE)
    norm = calibrate_normalisation(DiffusionScore(oracle, scheduler, 50), x, [10, 100])
    assert norm.factor(50) == 1.0
    assert norm.factor(10) < 1.0 < norm.factor(100)  # small t: larger scores, scaled down
    std_100 = DiffusionScore(oracle, scheduler, 100, normalise=True, normalisation=norm)(x).std(unbiased=False)
    assert std_100.item() == pytest.approx(norm.score_std[50], rel=1e-6)
    norm.save(tmp_path)
    assert ScoreNormalisation.load(tmp_path).score_std == norm.score_std
    with pytest.raises(ScoreModelError, match="calibrat"):
        DiffusionScore(oracle, scheduler, 50, normalise=True)
    with pytest.raises(ScoreModelError, match="timestep 25"):
        norm.factor(25)


def test_save_load_round_trip_through_from_pretrained(tmp_path):
    from diffusers import DDPMScheduler, UNet2DModel

    unet, scheduler = tiny_unet(), ddpm_scheduler()
    unet.save_pretrained(tmp_path)
    scheduler.save_pretrained(tmp_path)
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    direct = DiffusionScore(unet, scheduler, 50)(x)
    loaded = load_score_source(str(tmp_path), timestep=50)
    torch.testing.assert_close(loaded(x), direct)
    assert isinstance(UNet2DModel.from_pretrained(tmp_path, local_files_only=True), UNet2DModel)
    assert DDPMScheduler.from_pretrained(tmp_path, local_files_only=True).config.num_train_timesteps == 1000
    pipeline_dir = tmp_path / "pipeline"  # DDPMPipeline layout: unet/ and scheduler/
    unet.save_pretrained(pipeline_dir / "unet")
    scheduler.save_pretrained(pipeline_dir / "scheduler")
    torch.testing.assert_close(load_score_source(pipeline_dir, timestep=50)(x), direct)


def test_hub_id_offline_fails_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ScoreModelError, match="--local-dir") as info:
        load_score_source("google/ddpm-cifar10-32")
    assert "offline" in str(info.value)
    with pytest.raises(ScoreModelError, match="does not exist"):
        load_score_source(str(tmp_path / "missing"))
    with pytest.raises(ScoreModelError, match="no diffusers model"):
        load_score_source(str(tmp_path))
