"""Model modes: temporarily switching a model's mode (every module's own flag restored afterwards),
and freezing BatchNorm for training."""

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


def freeze_batchnorm(model: nn.Module) -> nn.Module:
    """Put every BatchNorm in eval mode (running statistics used, not updated); the rest keeps its mode.

    Call after `model.train()`. With BatchNorm frozen a ReLU network's training-mode function is
    its per-sample (eval-mode) function, so the penalty's forward can also serve the base loss.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    return model
