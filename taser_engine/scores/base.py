"""The score-source interface shared by analytic and learned scores."""

from __future__ import annotations

import abc

from torch import Tensor


class ScoreSource(abc.ABC):
    """A callable `x (B, *S) -> s(x) (B, *S)` with s ≈ ∇_x log p(x); never trained by TASER."""

    @abc.abstractmethod
    def __call__(self, x: Tensor) -> Tensor:
        ...
