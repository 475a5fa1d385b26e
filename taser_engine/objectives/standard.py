"""Standard training: cross-entropy on clean inputs (the weight decay, 1e-4 in paper C.2/C.5, is
the optimiser's `weight_decay`)."""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from taser_engine.objectives.base import BaseLoss, Objective

STANDARD_WEIGHT_DECAY = 1e-4


class Standard(Objective):
    method: Literal["standard"] = "standard"
    title = "Vanilla"
    table2_rank, table3_rank = 0, 0

    def loss_from(self, model: nn.Module, x: Tensor, x_adv: Tensor | None, y: Tensor) -> BaseLoss:
        return self.loss_from_clean_logits(model(x), y)

    def loss_from_clean_logits(self, logits: Tensor, y: Tensor) -> BaseLoss:
        ce = F.cross_entropy(logits, y)
        return BaseLoss(ce, logits=logits, parts={"loss/ce": ce.detach()})
