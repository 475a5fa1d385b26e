"""How long a study will take, estimated from the jobs this installation has already run.

Each planned job is priced by the median of finished jobs of the same kind on the same dataset,
per unit of the work that grows with its config (epochs for trainings and fine-tunes, evaluation
points for evaluations), so a 10-epoch plan is not priced like a 2-epoch history. With no history
for a kind the estimate says so instead of inventing a number. One worker runs jobs one at a time,
so the study's time is the sum; several workers divide it at best.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from app.studies.spec import PlannedJob

WORK_FIELD = {"train": "epochs", "finetune": "epochs", "evaluate": "n_eval", "score-model": "epochs"}
DATASET_TEST_SIZE = {"digits": 360}  # the evaluation is capped at the test split


@dataclass(frozen=True)
class Estimate:
    seconds: float | None  # None: nothing to estimate from for some kind
    unknown_kinds: tuple[str, ...]
    history: int  # finished jobs the estimate is based on

    def describe(self) -> str:
        if self.seconds is None:
            return (f"no estimate: no finished {', '.join(self.unknown_kinds)} job on this dataset yet "
                    "(run a small study first)")
        minutes = self.seconds / 60
        text = f"about {minutes:.0f} min" if minutes >= 2 else f"about {self.seconds:.0f} s"
        return f"{text} with one worker (from {self.history} finished jobs)"


def _work(kind: str, config: dict) -> float:
    field = WORK_FIELD.get(kind)
    value = config.get(field) if field else None
    if kind == "evaluate" and isinstance(value, (int, float)):
        value = min(value, DATASET_TEST_SIZE.get(config.get("dataset"), value))
    return float(value) if isinstance(value, (int, float)) and value > 0 else 1.0


def estimate_plan(plan: list[PlannedJob], history: list[tuple[str, dict, float]], dataset: str) -> Estimate:
    """`history`: (kind, stored config, seconds) of finished jobs (`store.finished_job_times`)."""
    per_unit: dict[str, list[float]] = {}
    used = 0
    for kind, config, seconds in history:
        if config.get("dataset", dataset) == dataset:
            per_unit.setdefault(kind, []).append(seconds / _work(kind, config))
            used += 1
    total, unknown = 0.0, []
    for job in plan:
        rates = per_unit.get(job.kind)
        if not rates:
            unknown.append(job.kind)
            continue
        total += statistics.median(rates) * _work(job.kind, {"dataset": dataset, **job.config})
    unknown_kinds = tuple(dict.fromkeys(unknown))
    return Estimate(None if unknown_kinds else total, unknown_kinds, used)
