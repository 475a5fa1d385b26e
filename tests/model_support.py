"""Test models with non-trivial eval-mode BatchNorm, shared by the Stein and tangent tests."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def randomise_batchnorm(model: nn.Module, spread: float, seed: int = 1) -> nn.Module:
    """Running statistics and affine parameters drawn around the identity (means, weights and
    biases by `spread`), so eval-mode BatchNorm is a real per-channel affine map, not the identity."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(spread * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.weight.data.copy_(1 + spread * torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(spread * torch.randn(m.num_features, generator=g))
    return model
