"""TRADES (Zhang et al. 2019), as in the official yaodongyu/TRADES `trades.py`.

Attack: model in eval mode, start x + 0.001·N(0, 1), sign steps maximising
KL_sum(softmax f(x) ‖ softmax f(x')), projection to the ε-ball and [0, 1] after each step.
Loss: CE(f(x), y) + β · KL_sum(softmax f(x) ‖ softmax f(x_adv)) / B, with the clean
distribution NOT detached (gradients flow through both sides), β = 6.

Forwards (`forwards`). The official step runs three train-mode forwards: f(x) for the CE, f(x_adv),
and f(x) again as the KL target (TRADES-AWP's script: f(x_adv), f(x) target, f(x) CE). With
BatchNorm in train mode the two clean forwards give identical outputs, so the loss and gradient do
not depend on the count, but BatchNorm's running statistics do: three momentum updates, a third of
them from adversarial batches, against two (half adversarial). Those statistics are what the
eval-mode attack of the next step and the test-time model use, so `"official"` (the default)
reproduces them; `"two"` reuses the first clean forward as the KL target, one forward cheaper per
step, with running statistics that weigh adversarial batches more.
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


TradesForwards = Literal["official", "two"]


class TRADES(AdversarialObjective):
    method: Literal["trades"] = "trades"
    title = "TRADES"
    table2_rank, table3_rank = 2, 2
    beta: float = Field(TRADES_BETA, ge=0.0)
    forwards: TradesForwards = Field("official", description=(
        "'official': the official code's three train-mode forwards (clean, adversarial, clean as the KL "
        "target), BatchNorm running statistics as there; 'two': the KL target reuses the first clean "
        "forward, one forward cheaper, statistics weighted towards adversarial batches"))

    def attack(self, model: nn.Module, x: Tensor, y: Tensor,
               generator: torch.Generator | None = None) -> Tensor:
        with eval_mode(model), torch.no_grad():
            clean_logits = model(x)
        with eval_mode(model):
            return pgd_linf(model, x, lambda logits: kl_sum(clean_logits, logits), self.epsilon,
                            self.step_size, self.num_steps, "normal", generator)

    def forward_logits(self, model: nn.Module, x: Tensor, x_adv: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(clean logits for the CE, adversarial logits, clean logits as the KL target), in the
        official order of train-mode forwards (trades.py: clean, adversarial, clean)."""
        logits = model(x)
        logits_adv = model(x_adv)
        return logits, logits_adv, (model(x) if self.forwards == "official" else logits)

    def loss_from(self, model: nn.Module, x: Tensor, x_adv: Tensor | None, y: Tensor) -> BaseLoss:
        logits, logits_adv, target = self.forward_logits(model, x, x if x_adv is None else x_adv)
        ce = F.cross_entropy(logits, y)
        robust = kl_sum(target, logits_adv) / x.shape[0]
        value = ce + self.beta * robust
        return BaseLoss(value, logits=logits, logits_adv=logits_adv,
                        parts={"loss/ce": ce.detach(), "loss/kl_robust": robust.detach()})
