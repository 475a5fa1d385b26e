"""A toy base objective: cross-entropy on the logits scaled by a constant."""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F

from taser_engine.objectives import OBJECTIVES, BaseLoss, Objective


@OBJECTIVES.register("toy_scaled")
class ScaledCE(Objective):
    method: Literal["toy_scaled"] = "toy_scaled"
    title = "Toy scaled CE"
    scale: float = 1.0

    def loss_from(self, model, x, x_adv, y) -> BaseLoss:
        logits = model(x)
        return BaseLoss(F.cross_entropy(self.scale * logits, y), logits=logits)
