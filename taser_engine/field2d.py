"""A 2D picture of what TASER does: the data's score field and a classifier's input gradients.

Two Gaussian classes in the plane; the mixture's score ∇log p is known in closed form. The same
small MLP is trained twice from the same initialisation, plainly (cross-entropy) and with the
TASER penalty on top (exact Laplacian: d = 2), and both are probed on a grid: the gradient of
the margin probe ∇f(x) against s(x), and their cosine. Trains in about a second on a CPU, so
the dashboard can draw it on demand.
"""

from __future__ import annotations

import copy
import math

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from taser_engine.penalty import alignment
from taser_engine.probes import logit_margin
from taser_engine.scores.analytic import GaussianMixtureScore
from taser_engine.stein import stein_residual


class Field2DConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    separation: float = Field(1.5, gt=0, description="class means at (±separation, 0)")
    sigma: float = Field(0.7, gt=0, description="per-class isotropic standard deviation")
    n_train: int = Field(400, ge=10, le=20_000)
    width: int = Field(32, ge=2, le=512)
    steps: int = Field(300, ge=1, le=20_000, description="full-batch Adam steps")
    lr: float = Field(1e-2, gt=0)
    taser_lambda: float = Field(1.0, ge=0)
    grid_size: int = Field(15, ge=3, le=60)
    extent: float = Field(4.0, gt=0, description="grid covers [-extent, extent]²")
    seed: int = 0


def mixture_score(x: Tensor, config: Field2DConfig) -> Tensor:
    """∇log p for p = ½N(μ₀, σ²I) + ½N(μ₁, σ²I)."""
    means = torch.tensor([[-config.separation, 0.0], [config.separation, 0.0]])
    return GaussianMixtureScore(means, config.sigma**2)(x)


def sample(config: Field2DConfig, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    y = torch.randint(0, 2, (config.n_train,), generator=generator)
    centre = torch.stack([(2 * y.float() - 1) * config.separation, torch.zeros(config.n_train)], dim=1)
    return centre + config.sigma * torch.randn(config.n_train, 2, generator=generator), y


def _mlp(width: int) -> nn.Module:
    return nn.Sequential(nn.Linear(2, width), nn.Softplus(), nn.Linear(width, width), nn.Softplus(),
                         nn.Linear(width, 2))


def stein_residual_2d(model: nn.Module, x: Tensor, y: Tensor, score: Tensor) -> Tensor:
    """r = Δf + sᵀ∇f of the margin probe, exact: for d = 2 the full Laplacian is two
    second-derivative passes, cheaper here than any estimator (the MLP has no normalisation
    layers, so batched double backward is per-sample)."""
    return stein_residual(lambda v: logit_margin(model(v), y), x, score, laplacian="exact", method="autograd")


def _train(model: nn.Module, x: Tensor, y: Tensor, score: Tensor, config: Field2DConfig, taser: bool) -> nn.Module:
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    for _ in range(config.steps):
        optimiser.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        if taser and config.taser_lambda > 0:
            residual = stein_residual_2d(model, x, y, score)
            loss = loss + config.taser_lambda * ((residual - residual.mean().detach()) ** 2).mean()
        loss.backward()
        optimiser.step()
    return model


def _probe_gradient(model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """∇ of the margin probe at the model's own prediction (the class it would defend)."""
    with torch.no_grad():
        label = model(x).argmax(dim=1)
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(logit_margin(model(x), label).sum(), x)
    return grad.detach(), label


def score_field_pair(config: Field2DConfig | None = None) -> dict:
    """Train plain and TASER models; return the grid, the score, each model's ∇f and alignment."""
    config = config or Field2DConfig()
    generator = torch.Generator().manual_seed(config.seed)
    x, y = sample(config, generator)
    score = mixture_score(x, config)
    torch.manual_seed(config.seed)
    initial = _mlp(config.width)
    axis = torch.linspace(-config.extent, config.extent, config.grid_size)
    gx, gy = torch.meshgrid(axis, axis * 0.75, indexing="xy")
    grid = torch.stack([gx.flatten(), gy.flatten()], dim=1)
    grid_score = mixture_score(grid, config)
    panels = []
    for title, taser in (("without TASER", False), (f"with TASER (λ={config.taser_lambda:g})", True)):
        model = _train(copy.deepcopy(initial), x, y, score, config, taser)
        grad, _ = _probe_gradient(model, grid)
        with torch.no_grad():
            accuracy = (model(x).argmax(1) == y).float().mean().item()
        on_data = alignment(model, x, y, score)
        panels.append({
            "title": title, "grad": grad.tolist(), "train_accuracy": accuracy,
            "cosine_mean": _finite_mean(on_data["cosine"]),
            "abs_directional_mean": _finite_mean(on_data["abs_directional"]),
            "cosine": on_data["cosine"].tolist(), "abs_directional": on_data["abs_directional"].tolist(),
        })
    return {"settings": config.model_dump(), "grid_x": grid[:, 0].tolist(), "grid_y": grid[:, 1].tolist(),
            "score": grid_score.tolist(), "panels": panels,
            "points": {"x": x[:, 0].tolist(), "y": x[:, 1].tolist(), "label": y.tolist()}}


def _finite_mean(values: Tensor) -> float:
    finite = values[torch.isfinite(values)]
    return finite.mean().item() if finite.numel() else math.nan
