"""Schedules of paper C.5: the λ ramp and the warm-up + cosine learning rate."""

from __future__ import annotations

import math

import torch


def lambda_ramp(step: int, lambda_max: float, warmup_steps: int) -> float:
    """λ(t) = λ_max · min(1, t / T_warm); λ_max from the first step when T_warm = 0."""
    if warmup_steps <= 0:
        return float(lambda_max)
    return float(lambda_max) * min(1.0, step / warmup_steps)


def warmup_cosine_lr(step: int, total_steps: int, eta_max: float, eta_min: float,
                     warmup_steps: int) -> float:
    """η(t): linear warm-up to η_max over T_warm steps, then cosine decay to η_min at T."""
    if step < warmup_steps:
        return eta_max * step / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return eta_min + 0.5 * (eta_max - eta_min) * (1.0 + math.cos(math.pi * progress))


def warmup_cosine_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, eta_max: float,
                            eta_min: float, warmup_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR following `warmup_cosine_lr`; the optimiser's lr must be set to η_max."""
    for group in optimizer.param_groups:
        group["lr"] = eta_max

    def factor(step: int) -> float:
        return warmup_cosine_lr(step, total_steps, eta_max, eta_min, warmup_steps) / eta_max

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
