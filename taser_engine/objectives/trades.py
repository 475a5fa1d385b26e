"""TRADES (Zhang et al. 2019), as in the official yaodongyu/TRADES `trades.py`.

Attack: model in eval mode, start x + 0.001·N(0, 1), sign steps maximising
KL_sum(softmax f(x) ‖ softmax f(x')), projection to the ε-ball and [0, 1] after each step.
Loss: CE(f(x), y) + β · KL_sum(softmax f(x) ‖ softmax f(x_adv)) / B, with the clean
distribution NOT detached (gradients flow through both sides), β = 6.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from taser_engine.attacks.pgd import eval_mode, pgd_linf
from taser_engine.objectives.base import AdversarialObjective, BaseLoss

TRADES_BETA = 6.0


def kl_sum(logits_p: Tensor, logits_q: Tensor) -> Tensor:
    """Σ_i KL(softmax p_i ‖ softmax q_i) — PyTorch's kl_div(log q, p, reduction='sum')."""
    return F.kl_div(F.log_softmax(logits_q, dim=1), F.softmax(logits_p, dim=1), reduction="sum")


class TRADES(AdversarialObjective):
    method: Literal["trades"] = "trades"
    beta: float = Field(TRADES_BETA, ge=0.0)

    def attack(self, model: nn.Module, x: Tensor, y: Tensor,
               generator: torch.Generator | None = None) -> Tensor:
        with eval_mode(model), torch.no_grad():
            clean_logits = model(x)
        with eval_mode(model):
            return pgd_linf(model, x, lambda logits: kl_sum(clean_logits, logits), self.epsilon,
                            self.step_size, self.num_steps, "normal", generator)

    def loss_from(self, model: nn.Module, x: Tensor, x_adv: Tensor | None, y: Tensor) -> BaseLoss:
        logits = model(x)
        logits_adv = model(x if x_adv is None else x_adv)
        ce = F.cross_entropy(logits, y)
        robust = kl_sum(logits, logits_adv) / x.shape[0]
        value = ce + self.beta * robust
        return BaseLoss(value, logits=logits, logits_adv=logits_adv,
                        parts={"loss/ce": ce.detach(), "loss/kl_robust": robust.detach()})
