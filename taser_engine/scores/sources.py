"""The one way a job turns "which score" into a score source: `build_score_source(spec, train_x, device)`.

A `ScoreSpec` names an entry of `SCORE_SOURCES` (`gaussian`: the diagonal Gaussian fitted to the
training images, the closed-form score TASER uses when no diffusion model is given; `diffusion`:
a diffusers score model, paper C.4) with what that entry needs. Training (training/scores.py,
which adds the score cache around a diffusion source), the alignment job and the pages all build
their score here, so a page measures against the very score a run trained with. Adding a source
is a builder function in its own module and one `SCORE_SOURCES.register` line (README, "Extending").
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor

from taser_engine.fields import MAX_TIMESTEPS, PathText
from taser_engine.registry import Registry
from taser_engine.scores.analytic import GaussianScore
from taser_engine.scores.base import ScoreSource

# Pixels that never vary (the border of digits) would get an infinite Gaussian precision.
GAUSSIAN_VAR_FLOOR = 1e-2

# builder(spec, train_x, device) -> the source on `device`
ScoreBuilder = Callable[["ScoreSpec", Tensor, "torch.device | str"], ScoreSource]
SCORE_SOURCES: Registry[ScoreBuilder] = Registry("score source")


class ScoreSpec(BaseModel):
    """Which score: a `SCORE_SOURCES` name and the settings that source reads."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    source: SCORE_SOURCES.Name = "gaussian"
    model: PathText | None = Field(None, description="diffusion: a score-model directory or a hub id")
    timestep: int = Field(50, ge=0, le=MAX_TIMESTEPS, description="diffusion timestep τ of the score")

    @model_validator(mode="after")
    def _model_given(self):
        if self.source == "diffusion" and not self.model:
            raise ValueError("model: the diffusion score source needs a score model")
        return self


def fit_gaussian_score(x: Tensor) -> GaussianScore:
    """N(mean, diag var) of the training inputs, variance floored at GAUSSIAN_VAR_FLOOR."""
    flat = x.detach().flatten(1).double()
    return GaussianScore(flat.mean(0).float(), flat.var(0).clamp_min(GAUSSIAN_VAR_FLOOR).float())


def gaussian_source(spec: ScoreSpec, train_x: Tensor, device) -> ScoreSource:
    return fit_gaussian_score(train_x).to(device)


def diffusion_source(spec: ScoreSpec, train_x: Tensor, device) -> ScoreSource:
    try:  # lazily: diffusers is heavy
        from taser_engine.scores.diffusion import load_score_source
    except ImportError as exc:
        raise ValueError(f"score_model: cannot load diffusion score sources here ({exc})") from exc
    return load_score_source(spec.model, timestep=spec.timestep).to(device)


SCORE_SOURCES.register("gaussian", gaussian_source)
SCORE_SOURCES.register("diffusion", diffusion_source)


def build_score_source(spec: ScoreSpec, train_x: Tensor, device: torch.device | str = "cpu") -> ScoreSource:
    """The score `spec` names, on `device`; `train_x` are the training images (sources fitted to
    the data read them, others ignore them)."""
    return SCORE_SOURCES.get(spec.source)(spec, train_x, device)


def score_spec_for(score_model: str, timestep: int) -> ScoreSpec:
    """The spec of a training config's `score_model` ('gaussian', a directory or a hub id)."""
    if score_model == "gaussian":
        return ScoreSpec(timestep=timestep)
    return ScoreSpec(source="diffusion", model=score_model, timestep=timestep)
