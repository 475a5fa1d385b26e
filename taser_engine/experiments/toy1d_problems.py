"""Input distributions with closed-form scores, and target functions, for the 1D study.

Every distribution offers `sample(n, generator)`, `score(x) = d/dx log p(x)` and `density(x)`,
all on 1D tensors. The paper's setting is `gaussian` (N(0, 1), score −x) with target `sin`;
the others show when the extrapolation effect of the Stein penalty holds and when it does not:

- `mixture`:   ½ N(−2, 0.6²) + ½ N(2, 0.6²), bimodal with a low-density gap around 0.
- `student_t`: Student-t with ν = 3, heavy tails (score −(ν+1)x / (ν + x²)).
- `logistic`:  standard logistic, light but exponential tails (score −tanh(x/2)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

DISTRIBUTIONS = ("gaussian", "mixture", "student_t", "logistic")
TARGETS = ("sin", "sin3", "tanh", "linear", "cubic")

MIXTURE_MEANS = (-2.0, 2.0)
MIXTURE_STD = 0.6
STUDENT_T_DF = 3.0


@dataclass(frozen=True)
class Distribution1D:
    name: str
    description: str
    sample: Callable[[int, torch.Generator], Tensor]
    score: Callable[[Tensor], Tensor]
    density: Callable[[Tensor], Tensor]


def _gaussian() -> Distribution1D:
    return Distribution1D(
        "gaussian", "N(0, 1)",
        sample=lambda n, g: torch.randn(n, generator=g),
        score=lambda x: -x,
        density=lambda x: torch.exp(-0.5 * x**2) / math.sqrt(2 * math.pi),
    )


def _mixture_log_components(x: Tensor) -> Tensor:
    """log(½ N(x; μ_k, σ²)) for each component, shape (*x.shape, K)."""
    means = torch.tensor(MIXTURE_MEANS, dtype=x.dtype)
    z = (x.unsqueeze(-1) - means) / MIXTURE_STD
    return -0.5 * z**2 - math.log(MIXTURE_STD * math.sqrt(2 * math.pi)) - math.log(len(MIXTURE_MEANS))


def _mixture_score(x: Tensor) -> Tensor:
    # Responsibility-weighted component scores: stable for any x via softmax of log densities.
    means = torch.tensor(MIXTURE_MEANS, dtype=x.dtype)
    resp = torch.softmax(_mixture_log_components(x), dim=-1)
    return (resp * (means - x.unsqueeze(-1))).sum(-1) / MIXTURE_STD**2


def _mixture_sample(n: int, g: torch.Generator) -> Tensor:
    means = torch.tensor(MIXTURE_MEANS)
    which = torch.randint(len(MIXTURE_MEANS), (n,), generator=g)
    return means[which] + MIXTURE_STD * torch.randn(n, generator=g)


def _mixture() -> Distribution1D:
    return Distribution1D(
        "mixture", f"½ N({MIXTURE_MEANS[0]:g}, {MIXTURE_STD:g}²) + ½ N({MIXTURE_MEANS[1]:g}, {MIXTURE_STD:g}²)",
        sample=_mixture_sample,
        score=_mixture_score,
        density=lambda x: torch.logsumexp(_mixture_log_components(x), dim=-1).exp(),
    )


def _student_t_sample(n: int, g: torch.Generator) -> Tensor:
    # t = Z / sqrt(V/ν), V ~ χ²_ν = 2·Gamma(ν/2); Gamma via the generator-aware standard gamma.
    z = torch.randn(n, generator=g)
    chi2 = torch._standard_gamma(torch.full((n,), STUDENT_T_DF / 2), generator=g) * 2
    return z / torch.sqrt(chi2 / STUDENT_T_DF)


def _student_t() -> Distribution1D:
    nu = STUDENT_T_DF
    log_norm = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
    return Distribution1D(
        "student_t", f"Student-t, ν = {nu:g}",
        sample=_student_t_sample,
        score=lambda x: -(nu + 1) * x / (nu + x**2),
        density=lambda x: torch.exp(log_norm - (nu + 1) / 2 * torch.log1p(x**2 / nu)),
    )


def _logistic_sample(n: int, g: torch.Generator) -> Tensor:
    u = torch.rand(n, generator=g).clamp(1e-7, 1 - 1e-7)
    return torch.log(u) - torch.log1p(-u)


def _logistic() -> Distribution1D:
    return Distribution1D(
        "logistic", "standard logistic",
        sample=_logistic_sample,
        score=lambda x: -torch.tanh(x / 2),
        density=lambda x: 0.25 / torch.cosh(x / 2) ** 2,
    )


_DISTRIBUTION_FACTORIES = {"gaussian": _gaussian, "mixture": _mixture, "student_t": _student_t,
                           "logistic": _logistic}

_TARGET_FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sin": torch.sin,
    "sin3": lambda x: torch.sin(3 * x),
    "tanh": torch.tanh,
    "linear": lambda x: 0.5 * x,
    "cubic": lambda x: x**3 / 6,
}


def get_distribution(name: str) -> Distribution1D:
    if name not in _DISTRIBUTION_FACTORIES:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {name!r}")
    return _DISTRIBUTION_FACTORIES[name]()


def get_target(name: str) -> Callable[[Tensor], Tensor]:
    if name not in _TARGET_FUNCTIONS:
        raise ValueError(f"target must be one of {TARGETS}, got {name!r}")
    return _TARGET_FUNCTIONS[name]
