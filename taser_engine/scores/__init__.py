"""Score sources: maps x ↦ s(x) ≈ ∇ log p(x), same shape as x."""

from taser_engine.scores.base import ScoreSource
from taser_engine.scores.analytic import GaussianScore

__all__ = ["ScoreSource", "GaussianScore"]
