"""The common shape of a base training objective (paper C.2).

An objective is a small validated (pydantic) object whose fields are the method's parameters,
with the papers' values as defaults. A training step calls `compute(model, x, y, epoch,
generator)`, which crafts the adversarial input if the method uses one (`attack`, model in eval
mode) and returns the loss on it (`loss_from`, model in the caller's mode), then
`after_step(model)` once the optimiser has stepped (AWP removes its weight perturbation there).
Splitting attack and loss lets AWP reuse any robust loss on its proxy model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

# Paper C.2 adversary for CIFAR-10: ε = 8/255, 10 steps of 2/255.
PAPER_EPSILON = 8 / 255
PAPER_STEP_SIZE = 2 / 255
PAPER_NUM_STEPS = 10


@dataclass
class BaseLoss:
    value: Tensor  # scalar to minimise, differentiable w.r.t. the model's parameters
    logits: Tensor | None = None  # logits on the clean input when the loss computed them
    logits_adv: Tensor | None = None  # logits on the adversarial input when there is one
    parts: dict[str, Tensor] = field(default_factory=dict)  # named detached components


class Objective(BaseModel):
    """Base class; subclasses set `method` and implement `loss_from` (and `attack` if adversarial).

    `title` is how tables and pages name the method; `table2_rank` / `table3_rank` place it in the
    paper's Table 2 / Table 3 row order (None: not a row of that table).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    title: ClassVar[str] = ""
    table2_rank: ClassVar[int | None] = None
    table3_rank: ClassVar[int | None] = None

    method: str

    @property
    def adversarial(self) -> bool:
        return False

    def attack(self, model: nn.Module, x: Tensor, y: Tensor,
               generator: torch.Generator | None = None) -> Tensor | None:
        return None

    def loss_from(self, model: nn.Module, x: Tensor, x_adv: Tensor | None, y: Tensor) -> BaseLoss:
        raise NotImplementedError

    def loss_from_clean_logits(self, logits: Tensor, y: Tensor) -> BaseLoss | None:
        """The loss from logits on the clean batch alone, or None when the method needs more
        (an adversarial input). Lets a training step reuse logits it already computed."""
        return None

    def compute(self, model: nn.Module, x: Tensor, y: Tensor, epoch: int = 0,
                generator: torch.Generator | None = None, loss_model: nn.Module | None = None) -> BaseLoss:
        """The base loss of one step; `epoch` counts from 0.

        `loss_model` (default `model`) is what the final loss forward goes through: a
        DistributedDataParallel wrapper of `model`, so its gradient reducer sees the step, while
        the attack runs on the bare module (an attack's input gradients must not be all-reduced).
        """
        return self.loss_from(loss_model or model, x, self.attack(model, x, y, generator), y)

    def after_step(self, model: nn.Module) -> None:
        """Called once after the optimiser step."""


class AdversarialObjective(Objective):
    """An objective with an L∞ PGD inner adversary (paper C.2 parameters as defaults)."""

    epsilon: float = Field(PAPER_EPSILON, ge=0.0, le=1.0, description="L∞ budget in [0, 1] pixels")
    step_size: float = Field(PAPER_STEP_SIZE, gt=0.0, le=1.0)
    num_steps: int = Field(PAPER_NUM_STEPS, ge=0, le=1000)

    @property
    def adversarial(self) -> bool:
        return True
