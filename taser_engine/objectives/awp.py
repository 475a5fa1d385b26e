"""Adversarial Weight Perturbation (Wu et al. 2020), as in the official csdongxian/AWP `utils_awp.py`.

Each step, after the input attack and from the warm-up epoch on:
1. a proxy copy of the model (so the real model's BatchNorm statistics stay untouched) is loaded
   with the current weights and, in train mode, takes the gradient of the robust loss;
2. per layer, for parameters named `weight` with ndim > 1 only, the ascent direction is
   rescaled to the layer's norm: d_l = ‖w_l‖ / (‖g_l‖ + 1e-20) · g_l;
3. the model is perturbed to w + γ·d, the base loss (and any regulariser) is computed and the
   optimiser steps on the perturbed weights;
4. `after_step` removes the perturbation.

The official code takes one SGD step on the proxy and differences the weights; since the
difference is rescaled per layer, the step size cancels and the direction is the gradient, which
we use directly (no rounding from subtracting nearly equal weights). Removal restores the saved
unperturbed weights plus the optimiser's update (w0 + (w1 − w_perturbed)), so with a zero update
the weights come back bit for bit. `awp_warmup` counts epochs from 1 like the official
`--awp-warmup` (AWP is on when epoch + 1 ≥ awp_warmup, epoch counted from 0). The repository has
no MART-AWP: it is MART's loss in the same procedure.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from pydantic import Field, PrivateAttr
from torch import Tensor, nn

from taser_engine.objectives.base import AdversarialObjective, BaseLoss, Objective
from taser_engine.objectives.mart import MART
from taser_engine.objectives.trades import TRADES

AWP_GAMMA = 0.005
AWP_WARMUP = 10
AWP_EPS = 1e-20


def perturbable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """Parameters AWP perturbs: named `weight` and with more than one dimension (conv, linear)."""
    return {name: p for name, p in model.named_parameters() if "weight" in name and p.dim() > 1}


class WeightPerturbation:
    """The proxy model and the perturbation currently applied to a model (runtime state only)."""

    def __init__(self) -> None:
        self.proxy: nn.Module | None = None
        self.saved: dict[str, tuple[Tensor, Tensor]] = {}  # name -> (w0, w0 + γ·d)

    def direction(self, model: nn.Module, objective: Objective, x: Tensor, x_adv: Tensor | None,
                  y: Tensor) -> dict[str, Tensor]:
        if self.proxy is None:
            self.proxy = copy.deepcopy(model)
        self.proxy.load_state_dict(model.state_dict())
        for proxy_module, module in zip(self.proxy.modules(), model.modules()):
            proxy_module.training = module.training  # train mode, or with BatchNorm frozen, as the model
        weights = perturbable_weights(self.proxy)
        loss = objective.loss_from(self.proxy, x, x_adv, y).value
        grads = torch.autograd.grad(loss, list(weights.values()), allow_unused=True)
        direction = {}
        for (name, w), g in zip(weights.items(), grads):
            if g is None:
                continue
            direction[name] = w.detach().norm() / (g.norm() + AWP_EPS) * g
        return direction

    @torch.no_grad()
    def apply(self, model: nn.Module, direction: dict[str, Tensor], gamma: float) -> None:
        weights = perturbable_weights(model)
        for name, d in direction.items():
            w = weights[name]
            w0 = w.detach().clone()
            w.add_(gamma * d)
            self.saved[name] = (w0, w.detach().clone())

    @torch.no_grad()
    def remove(self, model: nn.Module) -> None:
        weights = perturbable_weights(model)
        for name, (w0, w_perturbed) in self.saved.items():
            w = weights[name]
            w.copy_(w0 + (w - w_perturbed))
        self.saved.clear()


class _AWPMixin(AdversarialObjective):
    """AWP around the parent objective's robust loss (listed first among the bases: its
    `compute` wraps the parent's `loss_from`); the AWP fields are declared once, here."""

    awp_gamma: float = Field(AWP_GAMMA, ge=0.0)
    awp_warmup: int = Field(AWP_WARMUP, ge=0, description="first epoch (from 1) with AWP on")
    _awp: WeightPerturbation = PrivateAttr(default_factory=WeightPerturbation)

    def awp_active(self, epoch: int) -> bool:
        return self.awp_gamma > 0 and epoch + 1 >= self.awp_warmup

    def compute(self, model: nn.Module, x: Tensor, y: Tensor, epoch: int = 0,
                generator: torch.Generator | None = None, loss_model: nn.Module | None = None) -> BaseLoss:
        x_adv = self.attack(model, x, y, generator)
        if self.awp_active(epoch):  # data-parallel: each process's direction is its shard's
            direction = self._awp.direction(model, self, x, x_adv, y)
            self._awp.apply(model, direction, self.awp_gamma)
        return self.loss_from(loss_model or model, x, x_adv, y)

    def after_step(self, model: nn.Module) -> None:
        self._awp.remove(model)


class TradesAWP(_AWPMixin, TRADES):
    method: Literal["trades-awp"] = "trades-awp"
    title = "TRADES + AWP"
    table2_rank, table3_rank = 4, 3

    def forward_logits(self, model: nn.Module, x: Tensor, x_adv: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The AWP repository's TRADES script order: adversarial, clean as the KL target, clean for
        the CE ('two': adversarial, clean for both)."""
        logits_adv = model(x_adv)
        target = model(x)
        return (model(x) if self.forwards == "official" else target), logits_adv, target


class MartAWP(_AWPMixin, MART):
    method: Literal["mart-awp"] = "mart-awp"
    title = "MART + AWP"
    table2_rank, table3_rank = 5, 5
