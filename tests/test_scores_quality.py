"""Quality checks (analytic densities, Stein identity, alignment) and the score-model CLI."""

from __future__ import annotations

import argparse
import json
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from scores_oracle import GaussianOracle, ddpm_scheduler

pytestmark = pytest.mark.usefixtures("one_thread")
from taser_engine.penalty import alignment
from taser_engine.scores import DiffusionScore, GaussianMixtureScore, GaussianScore
from taser_engine.scores.quality import alignment_report, stein_identity_check


def test_mixture_score_is_the_gradient_of_its_log_density_and_noises_like_a_gaussian():
    mix = GaussianMixtureScore(torch.tensor([[0.0, 0.0], [2.0, 1.0]]), torch.tensor([0.3, 0.5]), torch.tensor([1.0, 3.0]))
    x = torch.randn(7, 2, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(mix.log_prob(x).sum(), x)
    torch.testing.assert_close(mix(x.detach()), grad)
    cov = torch.tensor([[0.3, 0.1], [0.1, 0.2]], dtype=torch.float64)
    mean = torch.tensor([0.5, -1.0], dtype=torch.float64)
    ab = 0.9
    noised = GaussianMixtureScore(mean[None], cov[None]).noised(ab)
    expected = GaussianScore(math.sqrt(ab) * mean, ab * cov + (1 - ab) * torch.eye(2, dtype=torch.float64))
    torch.testing.assert_close(noised(x.detach()), expected(x.detach()))


class _SigmaSquaredMistake(nn.Module):
    """Wraps an ε-model so the converted score is −ε/σ² (the known public-wrapper mistake)."""

    def __init__(self, inner, sigma):
        super().__init__()
        self.inner, self.sigma = inner, sigma

    def forward(self, sample, timestep):
        return SimpleNamespace(sample=self.inner(sample, timestep).sample / self.sigma)


def _gaussian_images(n=256, seed=0):
    gen = torch.Generator().manual_seed(seed)
    mean = torch.full((4,), 0.5, dtype=torch.float64)
    cov = 0.02 * torch.eye(4, dtype=torch.float64) + 0.01
    x = mean + torch.randn(n, 4, generator=gen, dtype=torch.float64) @ torch.linalg.cholesky(cov).T
    return x.view(n, 1, 2, 2).float(), mean, cov


def test_stein_identity_holds_for_the_exact_score_and_exposes_a_misscaled_one():
    images, mean, cov = _gaussian_images()
    scheduler = ddpm_scheduler()
    oracle = GaussianOracle(scheduler, 2 * mean - 1, 4 * cov)
    exact = DiffusionScore(oracle, scheduler, 50)
    good = stein_identity_check(exact, images)
    assert all(abs(r["z"]) < 4 for r in good["noised"].values())
    wrong = DiffusionScore(_SigmaSquaredMistake(oracle, exact.sigma), scheduler, 50)
    bad = stein_identity_check(wrong, images)
    assert abs(bad["noised"]["quadratic"]["z"]) > 10 and bad["noised"]["quadratic"]["relative"] > 0.5


def test_linear_baseline_is_optimal_for_gaussian_data():
    from taser_engine.scores.quality import gaussian_baseline_loss
    from taser_engine.scores.training import denoising_loss

    images, mean, cov = _gaussian_images(4000)
    scheduler = ddpm_scheduler()
    exact = DiffusionScore(GaussianOracle(scheduler, 2 * mean - 1, 4 * cov), scheduler, 50)
    baseline = gaussian_baseline_loss(exact, images[:3000], images[3000:])
    oracle_loss = denoising_loss(exact.model, scheduler, exact.to_model(images[3000:]), 50,
                                 torch.Generator().manual_seed(0))
    assert baseline == pytest.approx(oracle_loss, rel=0.1)  # fitted vs true moments, different noise
    variances = torch.linalg.eigvalsh(4 * cov)  # model coordinates
    ab = exact.alpha_bar
    analytic = (ab * variances / (ab * variances + 1 - ab)).mean().item()  # per-direction optimal MSE
    assert baseline == pytest.approx(analytic, rel=0.05)


def test_alignment_report_reuses_the_penalty_diagnostics():
    from taser_engine.models import ModelSpec, build_model

    torch.manual_seed(0)
    classifier = build_model(ModelSpec(arch="mlp", activation="softplus", width=16))
    images, mean, cov = _gaussian_images(16)
    images = torch.nn.functional.interpolate(images, size=(8, 8))
    labels = torch.arange(16) % 10
    scores = -(images - 0.5) / 0.05
    report = alignment_report(classifier, images, labels, scores)
    reference = alignment(classifier, images, labels, scores)
    for key, values in reference.items():
        assert report.arrays[key].shape == (16,)
        assert report.arrays[key] == pytest.approx(values.double().numpy(), rel=1e-6)
        assert report.summary[f"{key}_q10"] <= report.summary[f"{key}_median"] <= report.summary[f"{key}_q90"]
    assert (abs(report.arrays["cosine"]) <= 1 + 1e-6).all()


# -- CLI -------------------------------------------------------------------------------------

def run_cli(argv: list[str]) -> int:
    from app.cli import UserError
    from app.commands import score_model

    parser = argparse.ArgumentParser(prog="taser")
    score_model.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UserError:
        return 2


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("score_model")
    report = out / "train.json"
    assert run_cli(["score-model", "train", "--dataset", "digits", "--epochs", "1", "--out", str(out / "model"),
                    "--block-out-channels", "8,16", "--batch-size", "256", "--calibrate-timesteps", "25,100",
                    "--json", str(report)]) == 0
    return out / "model", json.loads(report.read_text())


def test_cli_train_writes_a_diffusers_directory_and_the_json(trained_dir):
    from diffusers import DDPMScheduler, UNet2DModel

    model_dir, report = trained_dir
    assert 0 < report["heldout_loss"] < 2 and report["epochs"] == 1
    assert set(report["score_std"]) == {"25", "50", "100"}
    UNet2DModel.from_pretrained(model_dir)
    DDPMScheduler.from_pretrained(model_dir)


def test_cli_check_and_cache(trained_dir, tmp_path):
    from taser_engine.checkpoints import save_model
    from taser_engine.models import ModelSpec, build_model

    model_dir, _ = trained_dir
    save_model(tmp_path / "clf", build_model(ModelSpec(arch="mlp", width=8)))
    assert run_cli(["score-model", "check", str(model_dir), "--num-samples", "32", "--classifier",
                    str(tmp_path / "clf"), "--json", str(tmp_path / "check.json")]) == 0
    check = json.loads((tmp_path / "check.json").read_text())
    assert {"heldout_loss", "heldout_loss_t50", "heldout_loss_t50_linear_baseline", "flip_rel_error_mean", "stein",
            "alignment"} <= set(check)
    assert len(check["alignment_arrays"]["cosine"]) == 32
    assert run_cli(["score-model", "cache", str(model_dir), "--out", str(tmp_path / "c.safetensors"),
                    "--flip-symmetrise", "--json", str(tmp_path / "cache.json")]) == 0
    cache = json.loads((tmp_path / "cache.json").read_text())
    assert cache["fp16_rel_error_max"] < 2e-3 and cache["flip"]["rel_error_mean"] < 2e-3


def test_cli_toy_and_user_errors(tmp_path, monkeypatch):
    assert run_cli(["score-model", "toy", "--epochs", "3", "--json", str(tmp_path / "toy.json")]) == 0
    toy = json.loads((tmp_path / "toy.json").read_text())
    assert {"learned_relative_error", "gaussian_fit_relative_error", "learned_cosine_mean"} <= set(toy)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert run_cli(["score-model", "check", "google/ddpm-cifar10-32"]) == 2
    assert run_cli(["score-model", "train", "--out", str(tmp_path / "x"), "--epochs", "0"]) == 2
