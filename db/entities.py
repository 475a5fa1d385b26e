"""Plain records the store hands out: frozen dataclasses, never ORM rows.

As MLflow's tracking entities: what `db.store` returns can be kept, compared, pickled and turned
into JSON after its session is gone. Times are ISO strings in UTC ("...Z"). A record also reads
like a mapping (`run["status"]`, `run.get("summary")`) because pages build tables from rows and
older call sites index them; `to_dict()` gives the JSON-ready form.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED_STATES = ("succeeded", "failed", "cancelled")
# Column lengths the app validates against before writing (PostgreSQL refuses longer values;
# SQLite would store them).
RUN_NAME_LENGTH = 200
STUDY_KEY_LENGTH = 500  # "train/method=…/taser=…/seed=…/<swept fields>"


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def progress_fraction(status: str | None, step: int | None, total: int | None) -> float:
    """Fraction of a job's work done, in [0, 1]; a succeeded job is done whatever it reported."""
    if status == "succeeded":
        return 1.0
    if not total or total <= 0:
        return 0.0
    return min(1.0, max(0.0, (step or 0) / total))


class Record:
    """Mapping-style reading and a JSON-ready dict for the dataclasses below."""

    def to_dict(self) -> dict[str, Any]:
        return {item.name: _plain(getattr(self, item.name)) for item in dataclasses.fields(self)}

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def keys(self) -> list[str]:
        return [item.name for item in dataclasses.fields(self)]

    def items(self) -> list[tuple[str, Any]]:
        return [(key, getattr(self, key)) for key in self.keys()]

    def __contains__(self, key: str) -> bool:
        return key in self.keys()


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, list) and value and isinstance(value[0], Record):
        return [_plain(item) for item in value]
    return value


@dataclass(frozen=True)
class JobRecord(Record):
    """A queue entry with what its worker needs of the run (kind, config); the one place where a
    run's status and times live."""

    id: int
    run_id: int
    kind: str
    config: dict[str, Any]
    status: str
    priority: int
    attempts: int
    max_attempts: int
    worker_id: str | None
    cancel_requested: bool
    progress_step: int
    progress_total: int
    progress_message: str
    eta_s: float | None
    checkpoint_path: str | None
    error: str | None
    log_tail: str
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    heartbeat_at: str | None
    lease_expires_at: str | None

    @property
    def progress(self) -> float:
        return progress_fraction(self.status, self.progress_step, self.progress_total)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATES

    def to_dict(self) -> dict[str, Any]:
        row = super().to_dict()
        row.pop("log_tail")  # long, and shown on its own where wanted
        row["progress"] = self.progress
        return row


@dataclass(frozen=True)
class RunRecord(Record):
    """A run with its job's state. `config` and `summary` are None in light rows (tables of
    hundreds of runs), which leave them out."""

    id: int
    kind: str
    name: str | None
    status: str
    parent_run_id: int | None
    tags: list[str]
    notes: str
    config: dict[str, Any] | None
    summary: dict[str, Any] | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    job_id: int | None
    progress: float | None
    progress_message: str
    eta_s: float | None
    error: str | None
    attempts: int | None
    worker_id: str | None
    cancel_requested: bool
    archived_at: str | None = None


@dataclass(frozen=True)
class EvaluationRecord(Record):
    id: int
    run_id: int
    attack: str
    norm: str
    eps: float
    n: int
    clean_accuracy: float | None  # fractions in [0, 1]
    robust_accuracy: float | None
    per_sample: dict[str, Any] | None
    extra: dict[str, Any] | None
    created_at: str | None


@dataclass(frozen=True)
class HeadlineRecord(Record):
    """What a run's results table row needs: the evaluation that speaks for the run (its own for
    an `evaluate` run, the newest finished one of it for a training) with its per-attack rows
    (no per-sample lists), and the training's step times (the run's own, or its model run's)."""

    run_id: int
    evaluation_run_id: int | None
    evaluations: list[EvaluationRecord]
    train_clean_acc: float | None
    ms_per_sample: float | None
    ms_per_sample_without_penalty: float | None
    penalty_ms_per_sample: float | None


@dataclass(frozen=True)
class ArtifactRecord(Record):
    id: int
    run_id: int
    kind: str
    path: str  # relative to the artifact root
    sha256: str
    size_bytes: int
    created_at: str | None


@dataclass(frozen=True)
class DependencyRecord(Record):
    """A run a job waits for, with that run's status now."""

    run_id: int
    status: str


@dataclass(frozen=True)
class WorkerRecord(Record):
    worker_id: str
    job_id: int
    heartbeat_at: str | None


@dataclass(frozen=True)
class RunDetail(RunRecord):
    """One run with everything the run page shows."""

    job: JobRecord | None = None
    log_tail: str = ""
    evaluations: list[EvaluationRecord] = field(default_factory=list)
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    metric_keys: list[str] = field(default_factory=list)
    dependencies: list[DependencyRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Heartbeat:
    """What a worker learns when it extends its lease."""

    owned: bool  # False: the lease was lost (reaped, or the job finished elsewhere): stop now
    cancel_requested: bool


@dataclass(frozen=True)
class StudyRecord:
    id: int
    name: str
    preset: str | None
    spec: dict[str, Any]
    plan: list[dict[str, Any]]
    cancelled: bool
    created_at: datetime
    queued_runs: int  # how many jobs of the plan are in the queue (any state)


@dataclass(frozen=True)
class StudyMember:
    """One queued job of a study: its plan key and its run's state."""

    key: str
    run_id: int
    job_id: int
    status: str
    progress: float
    error: str | None
    summary: dict[str, Any] | None
    started_at: datetime | None
    finished_at: datetime | None
    archived: bool = False  # its run is archived: it stays in the study's grid, not in its tables
