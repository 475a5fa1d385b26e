"""Quality checks for score models, and score/gradient alignment diagnostics for classifiers.

- `heldout_denoising_loss`: the training objective on held-out data (overall and at τ).
- `analytic_comparison`: on data with a known density (Gaussian, Gaussian mixture) the learned
  score at τ against the exact score of the *noised* density p_τ (cosine, relative error), next
  to two trivial baselines: the zero score and the best Gaussian fit.
- `stein_identity_check`: E_{p_τ}[L f] = E[Δf + sᵀ∇f] ≈ 0 for smooth test functions f, using
  exact samples x_τ ~ p_τ and the learned score there. With the quadratic f = ½‖x − m‖² it reads
  E[sᵀ(x − m)] = −d, which exposes a wrongly scaled score (σ² instead of σ, a missing chain-rule
  factor) at once. Also run on clean inputs, where the nonzero mean is the bias TASER's centering
  absorbs.
- `flip_equivariance_error`: ‖s(Fx) − F s(x)‖/‖s(x)‖, how exact flipped cached scores are.
- `alignment_report`: per-sample cosine(s, ∇f), |sᵀ∇f|, ‖∇f‖, ‖s‖ and the projection of ∇f on
  the score direction (computed by `taser_engine.penalty.alignment`), as numpy arrays ready for
  plotting plus summary statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from taser_engine.penalty import alignment
from taser_engine.scores.analytic import GaussianMixtureScore, GaussianScore
from taser_engine.scores.diffusion import DiffusionScore
from taser_engine.scores.training import denoising_loss
from taser_engine.stein import stein_terms

EXACT_LAPLACIAN_MAX_DIM = 256


def heldout_denoising_loss(source: DiffusionScore, images: Tensor, max_timestep: int | None = None,
                           seed: int = 0) -> dict[str, float]:
    """Denoising MSE on held-out images (classifier coordinates): over [0, max_timestep) and at τ."""
    x0 = source.to_model(images.float())
    gen = torch.Generator().manual_seed(seed)
    overall = denoising_loss(source.model, source.scheduler, x0, None, gen, max_timestep=max_timestep)
    at_tau = denoising_loss(source.model, source.scheduler, x0, source.timestep, torch.Generator().manual_seed(seed + 1))
    return {"heldout_loss": overall, f"heldout_loss_t{source.timestep}": at_tau}


def gaussian_baseline_loss(source: DiffusionScore, train_images: Tensor, heldout_images: Tensor,
                           seed: int = 0) -> float:
    """Denoising MSE at τ of the best *linear* denoiser (a Gaussian fitted to `train_images`).

    For Gaussian data the optimal ε̂ is σ(ᾱΣ + σ²I)⁻¹(x_τ − √ᾱ μ); a learned model that does not
    beat this baseline on held-out data has not learned more than the data's mean and covariance.
    """
    x_train = source.to_model(train_images.double()).flatten(1)
    x0 = source.to_model(heldout_images.double()).flatten(1)
    mean, cov = x_train.mean(0), torch.cov(x_train.T).reshape(x_train.shape[1], -1)
    ab, sigma = source.alpha_bar, source.sigma
    precision = torch.linalg.inv(ab * cov + sigma**2 * torch.eye(cov.shape[0], dtype=torch.float64))
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x_t = ab**0.5 * x0 + sigma * eps
    eps_hat = sigma * (x_t - ab**0.5 * mean) @ precision.T
    return (eps_hat - eps).pow(2).mean().item()


# -- known densities -------------------------------------------------------------------------

def default_mixture_2d() -> GaussianMixtureScore:
    """Three well-separated 2D Gaussians (model coordinates): visibly non-Gaussian at τ = 50."""
    means = torch.tensor([[-1.0, -0.5], [1.0, -0.5], [0.0, 1.0]])
    return GaussianMixtureScore(means, torch.tensor([0.02, 0.02, 0.03]), torch.tensor([0.3, 0.3, 0.4]))


def reference_noised_score(density: GaussianMixtureScore, source: DiffusionScore) -> GaussianMixtureScore:
    """Exact p_τ in classifier coordinates for data with density `density` (classifier coordinates)."""
    a, b = source.data_scale, source.data_shift
    return density.affine(a, b).noised(source.alpha_bar).affine(1.0 / a, -b / a)


def _errors(estimate: Tensor, reference: Tensor) -> dict[str, float]:
    e, r = estimate.flatten(1).double(), reference.flatten(1).double()
    cos = torch.nn.functional.cosine_similarity(e, r, dim=1)
    return {"cosine_mean": cos.mean().item(),
            "relative_error": ((e - r).pow(2).sum() / r.pow(2).sum()).sqrt().item()}


def analytic_comparison(source: DiffusionScore, density: GaussianMixtureScore, num_samples: int = 4096,
                        seed: int = 0, shape: tuple[int, ...] | None = None) -> dict[str, float]:
    """Learned vs exact score of p_τ at exact samples of p_τ, with zero and Gaussian-fit baselines.

    `relative_error` is ‖ŝ − s‖/‖s‖ over all samples (root of summed squares), `cosine_mean` the
    mean per-sample cosine. A Gaussian density is a one-component mixture. `shape` reshapes the
    flat samples for image models, e.g. (1, 8, 8).
    """
    gen = torch.Generator().manual_seed(seed)
    x0 = density.sample(num_samples, gen).float()
    if shape is not None:
        x0 = x0.view(num_samples, *shape)
    x_t, learned = source.noised_pair(x0, gen)
    flat = x_t.double().flatten(1)
    exact = reference_noised_score(density, source)(flat)
    mean, cov = flat.mean(0), torch.cov(flat.T).reshape(flat.shape[1], -1)
    fitted = GaussianScore(mean, cov)(flat)
    result = {f"learned_{k}": v for k, v in _errors(learned, exact).items()}
    result.update({f"gaussian_fit_{k}": v for k, v in _errors(fitted, exact).items()})
    result["zero_relative_error"] = 1.0
    result["timestep"] = float(source.timestep)
    return result


# -- Stein identity --------------------------------------------------------------------------

@dataclass
class TestFunction:
    name: str
    f: Callable[[Tensor], Tensor]


def stein_test_functions(x: Tensor, count: int = 3, seed: int = 0) -> list[TestFunction]:
    """Smooth test functions centred on the data: linear, quadratic and tanh ridges."""
    gen = torch.Generator().manual_seed(seed)
    center = x.flatten(1).mean(0).detach()
    spread = x.flatten(1).std(0).mean().clamp_min(1e-6).item()
    functions = [TestFunction("quadratic", lambda z: 0.5 * (z.flatten(1) - center.to(z)).pow(2).sum(1))]
    for j in range(count):
        w = torch.randn(center.numel(), generator=gen, dtype=torch.float64)
        w = w / w.norm()
        functions.append(TestFunction(f"linear_{j}", lambda z, w=w: z.flatten(1) @ w.to(z)))
        functions.append(TestFunction(
            f"tanh_{j}", lambda z, w=w: torch.tanh((z.flatten(1) - center.to(z)) @ w.to(z) / spread)))
    return functions


def _stein_summary(x: Tensor, s: Tensor, functions: list[TestFunction], num_probes: int,
                   generator: torch.Generator) -> dict[str, dict[str, float]]:
    laplacian = "exact" if x[0].numel() <= EXACT_LAPLACIAN_MAX_DIM else "hutchinson"
    out = {}
    for fn in functions:
        terms = stein_terms(fn.f, x.double(), s.double(), laplacian, num_probes, "jvp", generator)
        r, directional = terms.residual.detach(), terms.directional.detach()
        scale = directional.abs().mean().clamp_min(1e-30)
        mean, stderr = r.mean(), r.std() / r.numel() ** 0.5
        out[fn.name] = {"mean": mean.item(), "stderr": stderr.item(),
                        "z": (mean / stderr.clamp_min(1e-30)).item(),
                        "relative": (mean.abs() / scale).item()}
    return out


def stein_identity_check(source: DiffusionScore, images: Tensor, num_functions: int = 3, num_probes: int = 8,
                         seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """E[L f] per test function: at noised samples of p_τ (should be ≈ 0) and at clean inputs.

    Each entry: mean residual, its standard error, z = mean/stderr and `relative` =
    |mean r| / mean |sᵀ∇f| (the residual relative to the size of the score term).
    """
    gen = torch.Generator().manual_seed(seed)
    x_t, s_t = source.noised_pair(images.float(), gen)
    functions = stein_test_functions(x_t, num_functions, seed)
    clean = DiffusionScore(source.model, source.scheduler, source.timestep, noise_input=False,
                           data_scale=source.data_scale, data_shift=source.data_shift,
                           flip_symmetrise=source.flip_symmetrise, batch_size=source.batch_size)
    x_c = images.float()
    return {"noised": _stein_summary(x_t, s_t, functions, num_probes, gen),
            "clean": _stein_summary(x_c, clean(x_c), functions, num_probes, gen)}


# -- equivariance and alignment --------------------------------------------------------------

def flip_equivariance_error(source: Callable[[Tensor], Tensor], images: Tensor) -> dict[str, float]:
    """Relative distance between s(Fx) and F s(x) for horizontal flips F."""
    s, s_f = source(images).flatten(1), source(images.flip(-1)).flip(-1).flatten(1)
    rel = (s_f - s).norm(dim=1) / s.norm(dim=1).clamp_min(1e-30)
    return {"flip_rel_error_mean": rel.mean().item(), "flip_rel_error_max": rel.max().item()}


@dataclass
class AlignmentReport:
    arrays: dict[str, np.ndarray]  # per-sample values
    summary: dict[str, float]


def alignment_report(classifier: nn.Module, x: Tensor, y: Tensor, scores: Tensor | Callable[[Tensor], Tensor],
                     probe: str = "margin") -> AlignmentReport:
    """Per-sample alignment of the classifier's probe gradient with the score, plus summaries."""
    s = scores(x) if callable(scores) else scores
    arrays = {k: v.detach().cpu().double().numpy() for k, v in alignment(classifier, x, y, s, probe).items()}
    summary = {}
    for key, values in arrays.items():
        summary[f"{key}_mean"] = float(values.mean())
        summary[f"{key}_median"] = float(np.median(values))
        summary[f"{key}_q10"] = float(np.quantile(values, 0.1))
        summary[f"{key}_q90"] = float(np.quantile(values, 0.9))
    return AlignmentReport(arrays, summary)
