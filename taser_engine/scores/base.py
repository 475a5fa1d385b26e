"""The score-source interface shared by analytic and learned scores."""

from __future__ import annotations

import abc

import torch
from torch import Tensor


class ScoreSource(abc.ABC):
    """A callable `x (B, *S) -> s(x) (B, *S)` with s ≈ ∇_x log p(x); never trained by TASER.

    `to(device)` puts whatever the source computes with (constants, a network) on `device` and
    returns the source. Training calls it once with the run's device: a source left elsewhere
    would silently move every batch to it and back, at every step.
    """

    @abc.abstractmethod
    def __call__(self, x: Tensor) -> Tensor:
        ...

    @abc.abstractmethod
    def to(self, device: str | torch.device) -> "ScoreSource":
        ...
