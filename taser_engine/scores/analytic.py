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
