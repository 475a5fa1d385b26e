"""(σ(a), σ'(a), σ''(a)) in closed form for the activations the Stein residual supports.

Used by the tangent batch (tangents.py: second-order forward through activation modules) and by
the 1-D toy study's stacked MLPs (experiments/toy1d.py), which differentiate by hand.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

Derivatives = Callable[[Tensor], tuple[Tensor, Tensor, Tensor]]


def silu(a: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    sig = torch.sigmoid(a)
    return a * sig, sig * (1 + a * (1 - sig)), sig * (1 - sig) * (2 + a * (1 - 2 * sig))


def tanh(a: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    t = torch.tanh(a)
    first = 1 - t * t
    return t, first, -2 * t * first


def gelu(a: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The exact (erf) GELU."""
    cdf = 0.5 * (1 + torch.erf(a / math.sqrt(2)))
    pdf = torch.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
    return a * cdf, cdf + a * pdf, pdf * (2 - a * a)


def softplus(a: Tensor, beta: float = 1.0, threshold: float = 20.0) -> tuple[Tensor, Tensor, Tensor]:
    """As `nn.Softplus(beta, threshold)`, which is the identity where beta·a > threshold."""
    scaled = beta * a
    sig = torch.sigmoid(scaled)
    linear = scaled > threshold
    first = torch.where(linear, torch.ones_like(sig), sig)
    second = torch.where(linear, torch.zeros_like(sig), beta * sig * (1 - sig))
    return torch.nn.functional.softplus(a, beta, threshold), first, second


def relu(a: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """σ'' = 0 almost everywhere: a Stein residual keeps only s·f'."""
    return torch.relu(a), (a > 0).to(a.dtype), torch.zeros_like(a)


BY_NAME: dict[str, Derivatives] = {"tanh": tanh, "softplus": softplus, "silu": silu, "gelu": gelu, "relu": relu}
