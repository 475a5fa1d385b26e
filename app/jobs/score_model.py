"""`score-model` job: train a diffusers denoising score model into the run's folder.

The folder is a diffusers directory (`UNet2DModel` and `DDPMScheduler` load it with
`from_pretrained`), so a `train`/`finetune` job takes it as its score with `score_model_run`.
"""

from __future__ import annotations

from pydantic import Field

from app.jobs._result import JobResult
from app.jobs._runs import InputPaths
from taser_engine.scores.train_config import ScoreModelTrainConfig
from taser_engine.scores.training import train_score_model


class Config(InputPaths, ScoreModelTrainConfig):
    pass


class Result(JobResult):
    """The score model's folder and its held-out metrics (each metric is a field of its own)."""

    out_dir: str
    wall_s: float | None = Field(None, ge=0)
    train_loss: float | None = None


def run(config: Config, ctx) -> dict:
    result = train_score_model(config, ctx.run_dir, ctx, resume=True)
    return {"out_dir": str(ctx.run_dir), **result.metrics}
