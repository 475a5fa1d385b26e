"""`evaluate` job: clean and robust accuracy of a finished training run (AutoAttack, SPSA).

The run's summary is the full evaluation JSON (per-sample vectors, flags), also written to the
job's folder as `evaluation.json`; each attack's accuracy is besides stored as an evaluation row
(`Result.evaluation_rows`), which the Robustness page and the Run page's Evaluations tab read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from app.commands.evaluate import run_metadata
from app.jobs import JobError
from app.jobs._result import Fraction, JobResult
from app.jobs._runs import RunId, run_config, run_id_in
from app.paths import run_dir_for
from taser_engine.checkpoints import CheckpointError, atomic_write_json, load_model
from taser_engine.evaluation import EvaluationCancelled, EvaluationConfig, evaluate_model

RESULT_FILE = "evaluation.json"
# attacks that take no norm parameter are L∞ ones (SPSA)
DEFAULT_NORM = "Linf"


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


class Result(JobResult):
    """`taser_engine.evaluation.EvaluationResult.to_json`: accuracies as fractions, per-sample
    0/1 correctness per attack (and "clean"), gradient-masking flags; `run` names the model's
    training (method, taser, dataset) so the paper tables can pair runs."""

    schema_: str | None = Field(None, alias="schema")
    run: dict[str, Any] = {}
    subset: dict[str, Any] | None = None
    n: int | None = Field(None, ge=0)
    clean_acc: Fraction | None = None
    robust: dict[str, Fraction | None] = {}
    robust_avg: Fraction | None = None
    attacks: dict[str, dict[str, Any]] = {}
    per_sample: dict[str, list[int]] = {}
    flags: list[dict[str, Any]] = []
    config: dict[str, Any] | None = None
    wall_s: float | None = None

    model_config = ConfigDict(populate_by_name=True)  # `schema` would shadow BaseModel.schema

    @property
    def is_evaluation(self) -> bool:
        """False for an evaluation cancelled before any accuracy was measured."""
        return self.clean_acc is not None

    def evaluation_rows(self) -> list[dict[str, Any]]:
        """One row per attack in the fields of `db.store.add_evaluation`."""
        rows = []
        for attack, accuracy in self.robust.items():
            record = self.attacks.get(attack, {})
            params = record.get("params") or {}
            per_sample = {key: self.per_sample[key] for key in ("clean", attack) if key in self.per_sample}
            rows.append({"attack": attack, "norm": str(params.get("norm", DEFAULT_NORM)), "eps": float(params.get("eps") or 0.0),
                         "n": self.n or 0, "clean_accuracy": self.clean_acc, "robust_accuracy": accuracy,
                         "per_sample": per_sample or None,
                         "extra": {key: record[key] for key in ("label", "is_autoattack", "wall_s", "warnings")
                                   if key in record} or None})
        return rows

    def run_eval(self, source: str):
        """The paper tables' view of this evaluation (`taser_engine.evaluation.tables.RunEval`)."""
        from taser_engine.evaluation.tables import RunEval

        return RunEval.from_json(self.stored(), source)


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
