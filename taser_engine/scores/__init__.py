"""Score sources: maps x ↦ s(x) ≈ ∇ log p(x), same shape as x.

Analytic sources (Gaussian, Gaussian mixture) for tests and toy studies; `DiffusionScore` turns a
diffusers noise-prediction model into a score (paper C.4), `load_score_source` loads one from a
local directory or hub id, `ScoreCache` stores precomputed scores; training and quality checks
(which import diffusers) live in the submodules `training` and `quality`.
"""

from taser_engine.scores.analytic import GaussianMixtureScore, GaussianScore
from taser_engine.scores.base import ScoreSource
from taser_engine.scores.cache import ScoreCache, augment_pair
from taser_engine.scores.diffusion import (
    DEFAULT_TIMESTEP, DiffusionScore, ScoreModelError, ScoreNormalisation, calibrate_normalisation,
    load_score_source,
)

__all__ = [
    "DEFAULT_TIMESTEP", "DiffusionScore", "GaussianMixtureScore", "GaussianScore", "ScoreModelError",
    "ScoreCache", "ScoreNormalisation", "ScoreSource", "augment_pair", "calibrate_normalisation", "load_score_source",
]
