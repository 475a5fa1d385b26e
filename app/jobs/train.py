"""`train` job: `taser_engine.training.train` with its TrainConfig; resumes from the run folder."""

from __future__ import annotations

from pydantic import Field, model_validator

from app.jobs._runs import InputPaths, RunId, fill_path_from_run
from taser_engine.fields import MAX_EPOCHS
from taser_engine.training import TrainConfig, train


class Config(InputPaths, TrainConfig):
    epochs: int = Field(10, ge=1, le=MAX_EPOCHS, description="training epochs")  # a default, so `taser submit train` works bare
    score_model_run: RunId | None = Field(
        None, description="id of a finished score-model run to take the score from (instead of score_model)")

    @model_validator(mode="before")
    @classmethod
    def _score_model_from_run(cls, data):
        return fill_path_from_run(data, "score_model_run", "score_model")


def run(config: Config, ctx) -> dict:
    if config.gpus > 1:  # data-parallel: torchrun starts the processes (app/distributed_train.py)
        from app.distributed_train import launch

        return launch("train", config, ctx, ctx.run_dir)
    return train(config, ctx, ctx.run_dir, resume=True)
