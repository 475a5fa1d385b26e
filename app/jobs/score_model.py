"""`score-model` job: train a diffusers denoising score model into the run's folder.

The folder is a diffusers directory (`UNet2DModel` and `DDPMScheduler` load it with
`from_pretrained`), so a `train`/`finetune` job takes it as its score with `score_model_run`.
"""

from __future__ import annotations

from app.jobs._runs import InputPaths
from taser_engine.scores.train_config import ScoreModelTrainConfig
from taser_engine.scores.training import train_score_model


class Config(InputPaths, ScoreModelTrainConfig):
    pass


def run(config: Config, ctx) -> dict:
    result = train_score_model(config, ctx.run_dir, ctx, resume=True)
    return {"out_dir": str(ctx.run_dir), **result.metrics}
