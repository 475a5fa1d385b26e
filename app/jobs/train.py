"""`train` job: `taser_engine.training.train` with its TrainConfig; resumes from the run folder."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from app.jobs._result import Fraction, JobResult
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


class Result(JobResult):
    """What `taser_engine.training` returns for a training or fine-tuning run (`finetune` shares it)."""

    kind: str | None = None
    dataset: str | None = None
    method: str | None = None
    base_method: str | None = None
    taser: bool | None = None
    score_model: str | None = None
    score: Any = None
    epochs: int | None = Field(None, ge=0)
    epochs_planned: int | None = Field(None, ge=0)
    steps: int | None = Field(None, ge=0)
    steps_planned: int | None = Field(None, ge=0)
    clean_acc: Fraction | None = None
    train_acc: Fraction | None = None
    ms_per_sample: float | None = Field(None, ge=0)
    ms_per_sample_without_penalty: float | None = Field(None, ge=0)
    # whole step minus base step; with a shared forward the base step is timed apart (so noise
    # can, in principle, make this difference slightly negative)
    penalty_ms_per_sample: float | None = None
    base_step_timing: str | None = None  # how the base step's time was measured
    wall_s: float | None = Field(None, ge=0)
    device: str | None = None
    processes: int | None = Field(None, ge=1)
    run_dir: str | None = None
    history: list[dict[str, Any]] = []


def run(config: Config, ctx) -> dict:
    if config.gpus > 1:  # data-parallel: torchrun starts the processes (app/distributed_train.py)
        from app.distributed_train import launch

        return launch("train", config, ctx, ctx.run_dir)
    return train(config, ctx, ctx.run_dir, resume=True)
