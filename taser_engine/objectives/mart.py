"""MART (Wang et al. 2020), as in the official YisenWang/MART `mart.py`.

Attack: PGD on CE, model in eval mode, start x + 0.001·N(0, 1).
Loss: BCE + λ · KL_w with
  BCE  = CE(f(x'), y) − mean log(1.0001 − p'_ŷ + 1e-12), ŷ = the most likely wrong class under f(x');
  KL_w = (1/B) Σ_i KL(p(x_i) ‖ p'(x_i)) · (1.0000001 − p(x_i)_y), log p' taken as log(p' + 1e-12).
λ = 5 for ResNet-18 (paper C.2; the official code's `beta`, 6 for WideResNet).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from taser_engine.attacks.pgd import eval_mode, pgd_linf
from taser_engine.objectives.base import AdversarialObjective, BaseLoss

MART_LAMBDA = 5.0


def boosted_ce(logits_adv: Tensor, y: Tensor) -> Tensor:
    probs = F.softmax(logits_adv, dim=1)
    top2 = torch.argsort(probs, dim=1)[:, -2:]
    wrong = torch.where(top2[:, -1] == y, top2[:, -2], top2[:, -1])
    margin_term = F.nll_loss(torch.log(1.0001 - probs + 1e-12), wrong)
    return F.cross_entropy(logits_adv, y) + margin_term


def weighted_kl(logits: Tensor, logits_adv: Tensor, y: Tensor) -> Tensor:
    probs, probs_adv = F.softmax(logits, dim=1), F.softmax(logits_adv, dim=1)
    per_sample = F.kl_div(torch.log(probs_adv + 1e-12), probs, reduction="none").sum(dim=1)
    true_prob = probs.gather(1, y.unsqueeze(1)).squeeze(1)
    return (per_sample * (1.0000001 - true_prob)).sum() / logits.shape[0]


class MART(AdversarialObjective):
    method: Literal["mart"] = "mart"
    title = "MART"
    table2_rank, table3_rank = 3, 4
    lambda_mart: float = Field(MART_LAMBDA, ge=0.0, description="λ_MART (the official code's beta)")

    def attack(self, model: nn.Module, x: Tensor, y: Tensor,
               generator: torch.Generator | None = None) -> Tensor:
        with eval_mode(model):
            return pgd_linf(model, x, lambda logits: F.cross_entropy(logits, y), self.epsilon,
                            self.step_size, self.num_steps, "normal", generator)

    def loss_from(self, model: nn.Module, x: Tensor, x_adv: Tensor | None, y: Tensor) -> BaseLoss:
        logits = model(x)
        logits_adv = model(x if x_adv is None else x_adv)
        bce = boosted_ce(logits_adv, y)
        kl_w = weighted_kl(logits, logits_adv, y)
        value = bce + self.lambda_mart * kl_w
        return BaseLoss(value, logits=logits, logits_adv=logits_adv,
                        parts={"loss/bce": bce.detach(), "loss/kl_weighted": kl_w.detach()})
