"""`alignment` job: how a trained classifier's input gradient lines up with the data's score.

For a finished run that saved a model (`model.safetensors` + `model.json` in its run folder), on
`n` test images: cos(s, ∇f) and |sᵀ∇f| per sample (`taser_engine.penalty.alignment`, margin
probe at the true label), and a few example images with their score and gradient maps. The score
is built by `taser_engine.scores.sources.build_score_source`, as a training run builds its own: the
diagonal Gaussian fitted to the training images (`score: gaussian`, the same variance floor as
training) or, with `score: diffusion`, the score model of run `score_model_run`. The summary's
`alignment` block is what the Score field & alignment page draws.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.jobs._result import JobResult
from app.jobs._runs import InputPaths, RunId, fill_path_from_run
from taser_engine.datasets import DatasetName
from taser_engine.fields import MAX_TIMESTEPS, PathText, Seed
from taser_engine.scores.sources import SCORE_SOURCES, ScoreSpec


class Config(InputPaths):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model_run: RunId = Field(..., description="id of the finished run whose saved model is examined")
    dataset: DatasetName = Field("digits", description="dataset the model was trained on")
    data_root: PathText | None = Field(None, description="local root of CIFAR-10 / MNIST")
    # per-sample gradients and score maps of n images are kept in memory and in the summary
    n: int = Field(256, ge=2, le=20_000, description="test images examined")
    score: SCORE_SOURCES.Name = "gaussian"
    score_model_run: RunId | None = Field(
        None, description="id of a finished score-model run to take the score from (score: diffusion)")
    score_model: PathText | None = Field(None, description=(
        "diffusers score-model directory (score: diffusion); filled from score_model_run when given"))
    score_timestep: int = Field(50, ge=0, le=MAX_TIMESTEPS)
    examples: int = Field(4, ge=0, le=16, description="example images with score / gradient maps")
    seed: Seed = 0

    @model_validator(mode="before")
    @classmethod
    def _score_model_from_run(cls, data):
        return fill_path_from_run(data, "score_model_run", "score_model")

    @model_validator(mode="after")
    def _score_model_given(self):
        if self.score == "diffusion" and not self.score_model:
            raise ValueError("score_model: needed with score 'diffusion' (or give score_model_run)")
        return self

    def score_spec(self) -> ScoreSpec:
        return ScoreSpec(source=self.score, model=self.score_model, timestep=self.score_timestep)


class AlignmentBlock(BaseModel):
    """Per-sample cos(s, ∇f) and |sᵀ∇f|, and example images with their score / gradient maps."""

    model_config = ConfigDict(extra="allow")
    cosine: list[float | None] = []
    abs_directional: list[float | None] = []
    examples: list[dict[str, Any]] = []


class Result(JobResult):
    model_run: int | None = None
    dataset: str | None = None
    score: str | None = None
    n: int | None = Field(None, ge=0)
    cosine_mean: float | None = Field(None, ge=-1, le=1)
    abs_directional_mean: float | None = Field(None, ge=0)
    alignment: AlignmentBlock | None = None


def run(config: Config, ctx) -> dict:
    import torch

    from app.jobs import JobError
    from taser_engine.checkpoints import CheckpointError, load_model
    from taser_engine.datasets import load_dataset
    from taser_engine.penalty import alignment

    model_dir = Path(ctx.run_dir).parent / str(config.model_run)  # run folders are siblings
    try:
        model = load_model(model_dir).eval()
    except CheckpointError as exc:
        raise JobError(f"run {config.model_run} has no usable model: {exc}") from None
    ctx.on_progress(0, 2, "loading data")
    train_x = load_dataset(config.dataset, "train", config.data_root).tensors[0]
    test_x, test_y = load_dataset(config.dataset, "test", config.data_root).tensors
    order = torch.randperm(test_x.shape[0], generator=torch.Generator().manual_seed(config.seed))[: config.n]
    x, y = test_x[order], test_y[order]
    score = score_source(config, train_x)
    s = score(x)
    ctx.on_progress(1, 2, "alignment")
    arrays = alignment(model, x, y, s)
    block = {"cosine": arrays["cosine"].tolist(), "abs_directional": arrays["abs_directional"].tolist(),
             "examples": examples(model, x[: config.examples], y[: config.examples], s[: config.examples])}
    ctx.on_metrics(0, {"cosine_mean": arrays["cosine"].mean().item(),
                       "abs_directional_mean": arrays["abs_directional"].mean().item()})
    ctx.on_progress(2, 2, "done")
    return {"model_run": config.model_run, "dataset": config.dataset, "score": config.score, "n": int(x.shape[0]),
            "cosine_mean": arrays["cosine"].mean().item(),
            "abs_directional_mean": arrays["abs_directional"].mean().item(), "alignment": block}


def score_source(config: Config, train_x):
    from taser_engine.scores.sources import build_score_source

    return build_score_source(config.score_spec(), train_x)


def examples(model, x, y, s) -> list[dict]:
    """Image, score map and probe-gradient map per example (channels averaged to one 2D map)."""
    import torch

    from taser_engine.probes import logit_margin

    if x.shape[0] == 0:
        return []
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(logit_margin(model(x), y).sum(), x)
    return [{"title": f"test image, label {int(label)}", "image": image.mean(0).tolist(),
             "score": score.mean(0).tolist(), "grad": gradient.mean(0).tolist()}
            for image, label, score, gradient in zip(x.detach(), y, s.detach(), grad)]
