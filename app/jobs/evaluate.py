"""`evaluate` job: clean and robust accuracy of a finished training run (AutoAttack, SPSA).

The run's summary is the full evaluation JSON (per-sample vectors, flags), which the Robustness
page and `taser table` read; it is also written to the job's folder as `evaluation.json`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from app.commands.evaluate import run_metadata
from app.jobs import JobError
from app.jobs._runs import RunId, run_config, run_id_in
from app.paths import run_dir_for
from taser_engine.checkpoints import CheckpointError, atomic_write_json, load_model
from taser_engine.evaluation import EvaluationCancelled, EvaluationConfig, evaluate_model

RESULT_FILE = "evaluation.json"


class Config(EvaluationConfig):
    model_run: RunId = Field(..., description="id of the finished training or fine-tuning run to evaluate")

    @model_validator(mode="before")
    @classmethod
    def _dataset_of_the_run(cls, data):
        run_id = run_id_in(data, "model_run")
        if run_id is not None and "dataset" not in data:
            dataset = run_config(run_id).get("dataset")
            if dataset:
                data = {**data, "dataset": dataset}
        return data


def _metadata(model_run: int) -> dict:
    folder = run_dir_for(model_run)
    return {"dir": str(folder), "run_id": model_run, **run_metadata(folder)}


def run(config: Config, ctx) -> dict:
    try:
        model = load_model(run_dir_for(config.model_run))
    except CheckpointError as exc:
        raise JobError(f"run {config.model_run} has no usable model: {exc}") from None
    settings = config.model_dump(exclude={"model_run"})
    metadata = _metadata(config.model_run)
    if "dataset" not in config.model_fields_set and metadata.get("dataset"):
        settings["dataset"] = metadata["dataset"]  # the run had not written its config at submit time
    try:
        result = evaluate_model(model, EvaluationConfig(**settings), callbacks=ctx)
    except EvaluationCancelled:
        return {"cancelled": True}
    payload = result.to_json(run=metadata)
    atomic_write_json(Path(ctx.run_dir) / RESULT_FILE, payload)
    return payload
