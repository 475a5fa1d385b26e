"""PGD adversarial training (Madry et al.): CE on x_adv = argmax_{‖x'−x‖∞≤ε} CE(f(x'), y).

Defaults from paper C.2: ε = 8/255, 10 steps of 2/255. Random start uniform in the ε-ball
(Madry et al.); the attack runs with the model in eval mode like the TRADES/MART code, so
BatchNorm running statistics only see the inputs the model is trained on.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taser_engine.attacks.pgd import StartKind, eval_mode, pgd_linf
from taser_engine.objectives.base import AdversarialObjective, BaseLoss


class PGDAT(AdversarialObjective):
    method: Literal["pgd"] = "pgd"
    title = "PGD"
    table2_rank, table3_rank = 1, 1
    start: StartKind = "uniform"

    def attack(self, model: nn.Module, x: Tensor, y: Tensor,
               generator: torch.Generator | None = None) -> Tensor:
        with eval_mode(model):
            return pgd_linf(model, x, lambda logits: F.cross_entropy(logits, y), self.epsilon,
                            self.step_size, self.num_steps, self.start, generator)

    def loss_from(self, model: nn.Module, x: Tensor, x_adv: Tensor | None, y: Tensor) -> BaseLoss:
        logits_adv = model(x if x_adv is None else x_adv)
        ce = F.cross_entropy(logits_adv, y)
        return BaseLoss(ce, logits_adv=logits_adv, parts={"loss/ce_adv": ce.detach()})
