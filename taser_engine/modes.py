"""Temporarily switching a model's mode, with every module's own flag restored afterwards."""

from __future__ import annotations

import contextlib
from typing import Iterator

from torch import nn


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode for the block (BatchNorm uses, and never updates, its running statistics).

    Each module's flag is restored, not just the root's, so a model that was deliberately in a
    mixed mode comes back exactly as it was, also when the block raises.
    """
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, was_training in flags:
            module.training = was_training
