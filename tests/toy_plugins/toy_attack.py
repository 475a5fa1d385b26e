"""A toy attack: uniform noise in the L∞ ball (robust iff the noisy point is still right)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from taser_engine.evaluation import ATTACKS, NamedAttack
from taser_engine.evaluation.attacks import Attack, AttackOutcome


@dataclass
class UniformNoise(Attack):
    eps: float = 0.1
    seed: int = 0
    name = "toy_noise"

    @property
    def label(self) -> str:
        return f"toy uniform noise (eps={self.eps:.4g})"

    def run(self, model, x, y, *, batch_size, progress) -> AttackOutcome:
        generator = torch.Generator().manual_seed(self.seed)
        noisy = (x + self.eps * (2 * torch.rand(x.shape, generator=generator) - 1)).clamp(0, 1)
        with torch.no_grad():
            return AttackOutcome(correct=(model(x).argmax(1) == y) & (model(noisy).argmax(1) == y))


@ATTACKS.register("toy_noise")
class ToyNoise(NamedAttack):
    description = "toy uniform noise, L∞"
    scale: float = 1.0

    def build(self, config):
        return UniformNoise(eps=self.scale * config.linf, seed=config.attack_seed)
