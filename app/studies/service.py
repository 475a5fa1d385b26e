"""Studies as a whole: start, resume, cancel and retry one, and read its state cell by cell.

A study is stored with its spec and the plan made from it (`db.studies`); queueing walks the plan
in order and submits every job not queued yet, each in one transaction with its study key, so a
crash mid-way loses nothing and duplicates nothing: `queue_study` again picks up where it stopped.
Jobs wait for the runs they read (job dependencies), so one worker or many run the study in a
valid order, and a failed training fails its evaluation instead of leaving it queued forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.studies.spec import PlannedJob, StudySpec, StudySpecError, plan_study
from app.submission import SubmissionError, submit
from db import store
from db.entities import StudyMember, StudyRecord

STUDY_TAG = "study"
FINISHED = ("succeeded", "failed", "cancelled")


class StudyError(ValueError):
    """A study that does not exist or cannot do what was asked; the message says why."""


def start_study(spec: StudySpec, *, preset: str | None = None, url: str | None = None) -> int:
    """Plan (refusing an invalid study whole), store and queue a study; returns its id."""
    plan = plan_study(spec)
    study_id = store.create_study(spec.name, spec.model_dump(mode="json"), [job.model_dump(mode="json") for job in plan],
                                    preset, url=url)
    queue_study(study_id, url=url)
    return study_id


def _study(study_id: int, url: str | None) -> StudyRecord:
    study = store.get_study(study_id, url=url)
    if study is None:
        raise StudyError(f"no study with id {study_id}")
    return study


def planned_jobs(study: StudyRecord) -> list[PlannedJob]:
    return [PlannedJob.model_validate(job) for job in study.plan]


def queue_study(study_id: int, *, url: str | None = None) -> int:
    """Queue the jobs of the plan that are not queued yet (all of them for a new study); returns
    how many were queued now. A cancelled study queues nothing."""
    study = _study(study_id, url)
    if study.cancelled:
        return 0
    run_of = {key: member.run_id for key, member in store.study_members(study_id, with_summaries=False, url=url).items()}
    queued = 0
    for job in planned_jobs(study):
        if job.key in run_of:
            continue
        missing = [key for key in job.refs.values() if key not in run_of]
        if missing:  # the plan is in queue order; a missing ref is a damaged plan
            raise StudyError(f"study {study_id}: {job.key} reads {', '.join(missing)} before it is queued")
        config = {**job.config, **{name: run_of[key] for name, key in job.refs.items()}}
        try:
            submitted = submit(job.kind, config, {"name": job.name, "tags": [STUDY_TAG, f"study-{study_id}"]},
                               study=(study_id, job.key), url=url)
        except store.StudyKeyTaken:  # another process queued this key a moment ago
            run_of.update({k: m.run_id for k, m in store.study_members(study_id, with_summaries=False,
                                                                       url=url).items()})
            continue
        except SubmissionError as exc:
            raise StudyError(f"study {study_id}: {job.key}: {exc}") from None
        run_of[job.key] = submitted.run_id
        queued += 1
    return queued


def cancel_study(study_id: int, *, url: str | None = None) -> int:
    """Stop queueing more of the study and cancel every queued and running job; returns how many."""
    _study(study_id, url)
    store.set_study_cancelled(study_id, True, url=url)
    cancelled = 0
    for member in store.study_members(study_id, with_summaries=False, url=url).values():
        if member.status not in FINISHED:
            store.request_cancel(member.job_id, url=url)
            cancelled += 1
    return cancelled


def retry_study(study_id: int, *, url: str | None = None) -> tuple[int, int]:
    """Re-queue the failed and cancelled jobs (they resume from their checkpoints), then queue any
    job of the plan not queued yet; succeeded cells are not run again. Returns (re-queued, queued)."""
    _study(study_id, url)
    store.set_study_cancelled(study_id, False, url=url)
    requeued = 0
    for member in store.study_members(study_id, with_summaries=False, url=url).values():
        if member.status in ("failed", "cancelled"):
            store.requeue(member.job_id, url=url)
            requeued += 1
    return requeued, queue_study(study_id, url=url)


@dataclass
class CellState:
    key: str
    role: str
    kind: str
    name: str
    cell: dict[str, Any]
    status: str  # "not queued" until the job exists
    run_id: int | None = None
    job_id: int | None = None
    progress: float = 0.0
    error: str | None = None
    summary: dict[str, Any] | None = None
    archived: bool = False  # shown in the grid, left out of the tables like every archived run


@dataclass
class StudyState:
    study: StudyRecord
    cells: list[CellState] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for cell in self.cells:
            counts[cell.status] = counts.get(cell.status, 0) + 1
        return counts

    @property
    def status(self) -> str:
        """running (something queued or running), succeeded (every job), failed (something failed
        and nothing is left to run), cancelled, or incomplete (part of the plan never queued)."""
        counts = self.counts
        if counts.get("queued") or counts.get("running"):
            return "running"
        if counts.get("not queued"):
            return "cancelled" if self.study.cancelled else "incomplete"
        if counts.get("failed"):
            return "failed"
        if counts.get("cancelled"):
            return "cancelled"
        return "succeeded"

    @property
    def finished(self) -> bool:
        return self.status != "running"

    @property
    def progress(self) -> float:
        return sum(1.0 if c.status in FINISHED else c.progress for c in self.cells) / max(1, len(self.cells))

    @property
    def wall_s(self) -> float | None:
        """From the first job's start to the last one's end (None until one has finished)."""
        members = [m for m in self._members.values() if m.started_at and m.finished_at]
        if not members:
            return None
        return (max(m.finished_at for m in members) - min(m.started_at for m in members)).total_seconds()

    _members: dict[str, StudyMember] = field(default_factory=dict, repr=False)


def study_state(study_id: int, *, with_summaries: bool = True, url: str | None = None) -> StudyState:
    study = _study(study_id, url)
    members = store.study_members(study_id, with_summaries=with_summaries, url=url)
    state = StudyState(study, _members=members)
    for job in planned_jobs(study):
        member = members.get(job.key)
        cell = CellState(job.key, job.role, job.kind, job.name, job.cell, "not queued")
        if member is not None:
            cell.status, cell.run_id, cell.job_id = member.status, member.run_id, member.job_id
            cell.progress, cell.error, cell.summary = member.progress, member.error, member.summary
            cell.archived = member.archived
        state.cells.append(cell)
    return state


__all__ = ["StudyError", "StudySpecError", "cancel_study", "queue_study", "retry_study", "start_study",
           "study_state", "StudyState", "CellState"]
