"""Guards around an evaluation: the model as a frozen, eval-mode, logits-only function, and the
caller's random number generators left exactly as they were.

AutoAttack seeds the global torch RNG (`torch.manual_seed`) inside every sub-attack; a training
loop or a worker that evaluates in-process must not see its random stream change because of it.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor, nn


class LogitsOnly(nn.Module):
    """`x -> logits` and nothing else: no TASER code, no auxiliary outputs, no state updates."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        logits = self.model(x)
        if not isinstance(logits, Tensor) or logits.dim() != 2:
            raise TypeError("the evaluated model must return a (batch, classes) tensor of logits")
        return logits


@contextlib.contextmanager
def frozen_eval(model: nn.Module) -> Iterator[LogitsOnly]:
    """Eval mode and no parameter gradients for the duration; the model's own state is restored after."""
    was_training = model.training
    grad_flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in grad_flags:
        p.requires_grad_(False)
    try:
        yield LogitsOnly(model).eval()
    finally:
        for p, flag in grad_flags:
            p.requires_grad_(flag)
        model.train(was_training)


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Save and restore the torch (CPU and CUDA), numpy and Python global RNG states."""
    torch_state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    numpy_state = np.random.get_state()
    python_state = random.getstate()
    try:
        yield
    finally:
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        np.random.set_state(numpy_state)
        random.setstate(python_state)


def model_device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")
