"""`finetune` job: TASER fine-tuning of a finished training run, named by its run id."""

from __future__ import annotations

from pydantic import Field, model_validator

from app.jobs._runs import InputPaths, RunId, fill_path_from_run
from app.jobs.train import Result  # noqa: F401 (fine-tuning returns what training does)
from taser_engine.fields import MAX_EPOCHS, PathText
from taser_engine.training import FinetuneConfig, finetune


class Config(InputPaths, FinetuneConfig):
    source_run: RunId = Field(..., description="id of the training run to fine-tune")
    source: PathText = Field("", description="filled in from source_run")
    epochs: int = Field(5, ge=1, le=MAX_EPOCHS, description="fine-tuning epochs")
    score_model_run: RunId | None = Field(
        None, description="id of a finished score-model run to take the score from (instead of score_model)")

    @model_validator(mode="before")
    @classmethod
    def _paths_from_runs(cls, data):
        data = fill_path_from_run(data, "source_run", "source")
        return fill_path_from_run(data, "score_model_run", "score_model")


def run(config: Config, ctx) -> dict:
    if config.gpus > 1:  # data-parallel: torchrun starts the processes (app/distributed_train.py)
        from app.distributed_train import launch

        return launch("finetune", config, ctx, ctx.run_dir)
    return finetune(config, ctx, ctx.run_dir, resume=True)
