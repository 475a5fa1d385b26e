"""Closed-form score sources: Gaussian N(μ, Σ) with diagonal or full covariance."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from taser_engine.scores.base import ScoreSource


class GaussianScore(ScoreSource):
    """s(x) = −Σ⁻¹(x − μ) for p = N(μ, Σ) on flattened inputs of dimension d.

    `cov` may be a scalar, a (d,) diagonal or a (d, d) symmetric positive-definite matrix.
    """

    def __init__(self, mean: Tensor, cov: Tensor | float = 1.0):
        self.mean = torch.as_tensor(mean).flatten()
        d = self.mean.numel()
        cov = torch.as_tensor(cov, dtype=self.mean.dtype)
        if cov.dim() == 0:
            cov = cov.expand(d)
        if cov.dim() == 1:
            if cov.numel() != d or (cov <= 0).any():
                raise ValueError("diagonal covariance must have d positive entries")
            self.full = False
            self.cov = cov.clone()
            self.precision = 1.0 / cov
        else:
            if cov.shape != (d, d):
                raise ValueError(f"covariance must be ({d}, {d}), got {tuple(cov.shape)}")
            torch.linalg.cholesky(cov)  # raises unless positive-definite
            self.full = True
            self.cov = cov.clone()
            self.precision = torch.linalg.inv(cov)

    @property
    def dim(self) -> int:
        return self.mean.numel()

    def to(self, device: str | torch.device) -> "GaussianScore":
        self.mean, self.cov, self.precision = (t.to(device) for t in (self.mean, self.cov, self.precision))
        return self

    def __call__(self, x: Tensor) -> Tensor:
        z = x.flatten(1) - self.mean.to(x)
        s = -(z @ self.precision.to(x)) if self.full else -z * self.precision.to(x)
        return s.view_as(x)

    def neg_log_hessian(self) -> Tensor:
        """H_p = −∇² log p = Σ⁻¹ (constant for a Gaussian), as a (d, d) matrix."""
        return self.precision if self.full else torch.diag(self.precision)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(n, self.dim, generator=generator, dtype=self.mean.dtype)
        if self.full:
            return self.mean + z @ torch.linalg.cholesky(self.cov).T
        return self.mean + z * self.cov.sqrt()

    def log_prob(self, x: Tensor) -> Tensor:
        z = x.flatten(1) - self.mean.to(x)
        if self.full:
            quad = ((z @ self.precision.to(x)) * z).sum(dim=1)
            logdet = torch.linalg.slogdet(self.cov.to(x))[1]
        else:
            quad = (z * z * self.precision.to(x)).sum(dim=1)
            logdet = self.cov.to(x).log().sum()
        return -0.5 * (quad + logdet + self.dim * math.log(2 * math.pi))


class GaussianMixtureScore(ScoreSource):
    """Score of p = Σ_k w_k N(μ_k, Σ_k) on flattened inputs: Σ_k r_k(x)·(−Σ_k⁻¹(x − μ_k)).

    `means` (K, d), `covs` (K, d, d) or a scalar / (K,) isotropic variance, `weights` (K,).
    `noised(ᾱ)` gives the density of √ᾱ·x + √(1−ᾱ)·ε (the DDPM forward process) and `affine(a, b)`
    the density of a·x + b, both again Gaussian mixtures, so learned scores at any timestep and in
    any coordinates have an exact reference. Computed in float64.
    """

    def __init__(self, means: Tensor, covs: Tensor | float = 1.0, weights: Tensor | None = None):
        self.means = torch.as_tensor(means, dtype=torch.float64)
        if self.means.dim() != 2:
            raise ValueError("means must be (K, d)")
        k, d = self.means.shape
        covs = torch.as_tensor(covs, dtype=torch.float64)
        if covs.dim() == 0:
            covs = covs.expand(k)
        if covs.dim() == 1:
            covs = covs.view(k, 1, 1) * torch.eye(d, dtype=torch.float64)
        if covs.shape != (k, d, d):
            raise ValueError(f"covs must be ({k}, {d}, {d}), got {tuple(covs.shape)}")
        self.covs = covs.clone()
        self.chol = torch.linalg.cholesky(self.covs)  # raises unless positive-definite
        w = torch.full((k,), 1.0 / k, dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        if w.shape != (k,) or (w <= 0).any():
            raise ValueError("weights must be K positive numbers")
        self.weights = w / w.sum()

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def to(self, device: str | torch.device) -> "GaussianMixtureScore":
        self.means, self.covs, self.chol, self.weights = (
            t.to(device) for t in (self.means, self.covs, self.chol, self.weights))
        return self

    def noised(self, alpha_bar: float) -> "GaussianMixtureScore":
        eye = torch.eye(self.dim, dtype=torch.float64)
        return GaussianMixtureScore(math.sqrt(alpha_bar) * self.means,
                                    alpha_bar * self.covs + (1.0 - alpha_bar) * eye, self.weights)

    def affine(self, scale: float, shift: float) -> "GaussianMixtureScore":
        return GaussianMixtureScore(scale * self.means + shift, scale ** 2 * self.covs, self.weights)

    def _component_terms(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Per-component log w_k N(x; μ_k, Σ_k) (B, K) and Σ_k⁻¹(x − μ_k) (B, K, d)."""
        z = x.flatten(1).to(torch.float64)[:, None, :] - self.means[None]  # (B, K, d)
        sol = torch.cholesky_solve(z.permute(1, 2, 0), self.chol).permute(2, 0, 1)  # Σ⁻¹ z
        quad = (z * sol).sum(-1)
        logdet = 2 * torch.log(torch.diagonal(self.chol, dim1=-2, dim2=-1)).sum(-1)
        log_comp = self.weights.log() - 0.5 * (quad + logdet + self.dim * math.log(2 * math.pi))
        return log_comp, sol

    def log_prob(self, x: Tensor) -> Tensor:
        return torch.logsumexp(self._component_terms(x)[0], dim=1).to(x.dtype)

    def __call__(self, x: Tensor) -> Tensor:
        log_comp, sol = self._component_terms(x)
        resp = torch.softmax(log_comp, dim=1)
        return (-(resp[..., None] * sol).sum(1)).to(x.dtype).view_as(x)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.means[comp] + (self.chol[comp] @ z[..., None]).squeeze(-1)
