"""L∞ projected gradient ascent for adversarial training (PGD-AT, TRADES, MART).

Small on purpose: sign-gradient steps on a caller-given loss of the logits, projection to the
ε-ball around x and to [0, 1] after every step, as in the official TRADES/MART code. The start is
either x + 0.001·N(0, 1) (TRADES/MART, not clamped before the first step), uniform in the ε-ball
(Madry et al.), or x itself. Random numbers come from an explicit generator so runs resume
exactly. The model's train/eval flags are the caller's business (`eval_mode` helps).
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
from torch import Tensor, nn

from taser_engine.rng import draw_device
from taser_engine.modes import eval_mode  # noqa: F401  (re-exported: attacks run in eval mode)

StartKind = Literal["normal", "uniform", "none"]
TRADES_START_STD = 0.001


def random_start(x: Tensor, eps: float, start: StartKind, generator: torch.Generator | None) -> Tensor:
    dev = draw_device(generator, x)
    if start == "normal":
        noise = torch.randn(x.shape, generator=generator, device=dev, dtype=x.dtype)
        return x + TRADES_START_STD * noise.to(x.device)
    if start == "uniform":
        noise = torch.rand(x.shape, generator=generator, device=dev, dtype=x.dtype).to(x.device)
        return (x + (2 * noise - 1) * eps).clamp(0.0, 1.0)
    return x.clone()


def pgd_linf(model: nn.Module, x: Tensor, loss_fn: Callable[[Tensor], Tensor], eps: float,
             step_size: float, steps: int, start: StartKind = "normal",
             generator: torch.Generator | None = None) -> Tensor:
    """x_adv maximising `loss_fn(model(x_adv))` in {‖x' − x‖∞ ≤ ε} ∩ [0, 1]; returned detached."""
    x = x.detach()
    x_adv = random_start(x, eps, start, generator).detach()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            loss = loss_fn(model(x_adv))
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + step_size * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    return x_adv.clamp(0.0, 1.0).detach()  # the official code clamps once more before the loss
