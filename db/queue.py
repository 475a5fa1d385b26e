"""The job queue's state machine: submit, claim, heartbeat, finish, cancel, retry, reap, release,
progress. Run writes (metrics, artifacts, evaluations, notes, tags) are in `db.tracking`, reads in
`db.reads`; other packages use all three through `db.store`.

Every function is one short transaction. States: queued -> running -> succeeded | failed |
cancelled. Claiming is atomic: PostgreSQL locks the chosen row with FOR UPDATE SKIP LOCKED so
concurrent workers pick different jobs; SQLite runs the claim in a BEGIN IMMEDIATE transaction,
which admits one writer at a time. A running job holds a lease that its worker extends by
heartbeats; `reap_expired_leases` re-queues jobs whose worker vanished (bounded by
`max_attempts`, then failed with the reason). Updates made on behalf of a worker check that the
worker still owns the job, so a worker that lost its lease cannot overwrite the new owner.

All functions take `url=` (default: `TASER_DATABASE_URL`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from db import tracking
from db.entities import Heartbeat, JobRecord
from db.models import Job, JobDependency, Run, utcnow
from db.reads import job_record
from db.session import read_session, write_session

DEFAULT_MAX_ATTEMPTS = 3
LOG_TAIL_CHARS = 8000


class QueueError(Exception):
    """A queue operation that does not apply to the job in its current state."""


class StudyKeyTaken(QueueError):
    """A study's plan key that is already queued (another process queued it a moment ago)."""


# ----------------------------------------------------------------------------------------------
# submitting and claiming


def submit_job(kind: str, config: dict[str, Any], name: str | None = None,
               parent_run_id: int | None = None, tags: Sequence[str] | None = None, *,
               depends_on: Sequence[int] = (), priority: int = 0,
               max_attempts: int = DEFAULT_MAX_ATTEMPTS, study: tuple[int, str] | None = None,
               notes: str = "", url: str | None = None) -> int:
    """Queue a job of `kind` with an already validated `config`; returns the job id.

    `study`: (study id, plan key) when the job is part of a study; a key already queued raises
    StudyKeyTaken and queues nothing (see db/studies.py).

    The job is not claimed before every run in `depends_on`, and its parent run, has succeeded;
    if one of them fails or is cancelled, the job fails (`fail_jobs_with_failed_dependencies`).
    """
    dependencies = sorted({*depends_on, *([parent_run_id] if parent_run_id is not None else [])})
    try:
        return _insert_job(kind, config, name, parent_run_id, tags, dependencies, priority, max_attempts, study,
                           notes, url)
    except IntegrityError:
        if study is None:
            raise
        raise StudyKeyTaken(f"study {study[0]} already queued {study[1]}") from None


def _insert_job(kind, config, name, parent_run_id, tags, dependencies, priority, max_attempts, study, notes,
                url) -> int:
    with write_session(url) as session:
        if dependencies:
            missing = set(dependencies) - set(session.scalars(select(Run.id).where(Run.id.in_(dependencies))))
            if missing:
                raise QueueError(f"no run with id {', '.join(map(str, sorted(missing)))} to depend on")
        run = Run(kind=kind, name=name, config=dict(config), parent_run_id=parent_run_id,
                  tags=list(tags or []), notes=notes,
                  study_id=study[0] if study else None, study_key=study[1] if study else None)
        session.add(run)
        session.flush()
        job = Job(run_id=run.id, status="queued", priority=priority, max_attempts=max_attempts)
        session.add(job)
        session.flush()
        session.add_all(JobDependency(job_id=job.id, run_id=run_id) for run_id in dependencies)
        return job.id


def record_finished_run(kind: str, config: dict[str, Any], summary: dict[str, Any] | None = None,
                        name: str | None = None, tags: Sequence[str] | None = None, *,
                        evaluations: Sequence[Mapping[str, Any]] = (), url: str | None = None) -> int:
    """A run that needed no queue (an imported model, say), recorded with a succeeded job so its
    state lives where every run's does; returns the run id."""
    with write_session(url) as session:
        now = _now(session)
        run = Run(kind=kind, name=name, config=dict(config), tags=list(tags or []), notes="",
                  summary=dict(summary or {}))
        session.add(run)
        session.flush()
        session.add(Job(run_id=run.id, status="succeeded", attempts=0, created_at=now,
                        started_at=now, finished_at=now, eta_s=0.0))
        tracking.write_evaluations(session, run.id, evaluations)
        return run.id


def claim_next_job(worker_id: str, lease_s: float, *, url: str | None = None) -> JobRecord | None:
    """Atomically take the highest-priority, oldest queued job that is ready; None when there is none.

    A job with dependencies (a fine-tune needs its source run and its score-model run) waits
    until every one has succeeded, so several workers never start a job before its inputs.
    """
    with write_session(url) as session:
        now = _now(session)
        job = session.scalars(
            select(Job).where(Job.status == "queued", ~_has_dependency(lambda run: run.status != "succeeded"))
            .order_by(Job.priority.desc(), Job.id).limit(1)
            .with_for_update(skip_locked=True, of=Job)
        ).first()
        if job is None:
            return None
        job.status = "running"
        job.worker_id = worker_id
        job.attempts += 1
        job.heartbeat_at = now
        job.lease_expires_at = now + timedelta(seconds=lease_s)
        job.started_at = job.started_at or now
        job.eta_s = None
        session.flush()
        return job_record(job, session.get(Run, job.run_id))


def _has_dependency(condition):
    """EXISTS clause: the job has a dependency whose run's job satisfies `condition(job)`."""
    needed = aliased(Job)
    return (select(JobDependency.run_id).join(needed, needed.run_id == JobDependency.run_id)
            .where(JobDependency.job_id == Job.id, condition(needed)).exists())


def fail_jobs_with_failed_dependencies(*, url: str | None = None) -> list[int]:
    """Fail queued jobs that wait for a run that failed or was cancelled; returns their ids."""
    unsuccessful = ("failed", "cancelled")
    with write_session(url) as session:
        now = _now(session)
        blocked = session.scalars(
            select(Job).where(Job.status == "queued", _has_dependency(lambda run: run.status.in_(unsuccessful)))
            .with_for_update(skip_locked=True, of=Job)).all()
        for job in blocked:
            needed = aliased(Job)
            failed = session.execute(
                select(needed.run_id, needed.status).join(JobDependency, JobDependency.run_id == needed.run_id)
                .where(JobDependency.job_id == job.id, needed.status.in_(unsuccessful))
                .order_by(needed.run_id)).all()
            names = ", ".join(f"#{run_id} {status}" for run_id, status in failed)
            _set_finished(session, job, "failed", f"not started: the run it needs did not succeed ({names})", now)
        return [job.id for job in blocked]


def heartbeat(job_id: int, worker_id: str, lease_s: float, *, url: str | None = None) -> Heartbeat:
    """Extend the lease of a job this worker runs; says whether a cancel was requested."""
    with write_session(url) as session:
        now = _now(session)
        result = session.execute(
            update(Job).where(Job.id == job_id, Job.worker_id == worker_id, Job.status == "running")
            .values(heartbeat_at=now, lease_expires_at=now + timedelta(seconds=lease_s))
            .returning(Job.cancel_requested)
        ).first()
    if result is None:
        return Heartbeat(owned=False, cancel_requested=False)
    return Heartbeat(owned=True, cancel_requested=bool(result[0]))


def job_control(job_id: int, worker_id: str, *, url: str | None = None) -> Heartbeat:
    """Read-only check between heartbeats: does this worker still own the job, cancel asked?"""
    with read_session(url) as session:
        row = session.execute(select(Job.status, Job.worker_id, Job.cancel_requested)
                              .where(Job.id == job_id)).first()
    if row is None or row.status != "running" or row.worker_id != worker_id:
        return Heartbeat(owned=False, cancel_requested=False)
    return Heartbeat(owned=True, cancel_requested=bool(row.cancel_requested))


# ----------------------------------------------------------------------------------------------
# finishing


def complete(job_id: int, worker_id: str, summary: Mapping[str, Any] | None = None, *,
             evaluations: Sequence[Mapping[str, Any]] = (), url: str | None = None) -> bool:
    """Mark a running job succeeded, with its summary and evaluation rows (the `add_evaluation`
    fields) in the same transaction; False when this worker no longer owns it."""
    return _finish(job_id, worker_id, "succeeded", None, summary, url, evaluations)


def fail(job_id: int, worker_id: str, reason: str, *, url: str | None = None) -> bool:
    """Mark a running job failed with a readable `reason`; False when not owned any more."""
    return _finish(job_id, worker_id, "failed", reason, None, url)


def cancel(job_id: int, worker_id: str, *, url: str | None = None) -> bool:
    """Record that a running job stopped because a cancel was requested."""
    return _finish(job_id, worker_id, "cancelled", "cancelled by request", None, url)


def retry_or_fail(job_id: int, worker_id: str, reason: str, *, url: str | None = None) -> str | None:
    """An attempt that died for a reason that may pass (its process was killed: out of memory,
    say): queue the job again while attempts remain, else fail it. Returns the new status, or
    None when this worker no longer owns the job. The attempt counts; `error` keeps the reason."""
    with write_session(url) as session:
        job = _owned_job(session, job_id, worker_id)
        if job is None:
            return None
        note = f"attempt {job.attempts} of {job.max_attempts}: {reason}"
        if job.attempts >= job.max_attempts:
            _set_finished(session, job, "failed", note, _now(session))
            return "failed"
        job.status, job.worker_id, job.lease_expires_at = "queued", None, None
        job.error = f"{note}; queued again"
        return "queued"


def release(job_id: int, worker_id: str, *, url: str | None = None) -> bool:
    """Give a running job back to the queue (worker shutting down); it resumes elsewhere."""
    with write_session(url) as session:
        job = _owned_job(session, job_id, worker_id)
        if job is None:
            return False
        job.status, job.worker_id, job.lease_expires_at = "queued", None, None
        job.attempts = max(0, job.attempts - 1)  # not the job's fault: do not spend an attempt
        return True


def _finish(job_id: int, worker_id: str, status: str, reason: str | None,
            summary: Mapping[str, Any] | None, url: str | None,
            evaluations: Sequence[Mapping[str, Any]] = ()) -> bool:
    with write_session(url) as session:
        now = _now(session)
        job = _owned_job(session, job_id, worker_id)
        if job is None:
            return False
        _set_finished(session, job, status, reason, now)
        if summary is not None:
            session.get(Run, job.run_id).summary = dict(summary)
        tracking.write_evaluations(session, job.run_id, evaluations)
        return True


def _now(session) -> datetime:
    """Naive UTC "now" for leases: the database server's clock on PostgreSQL, so workers on
    machines whose clocks disagree still agree on when a lease expires."""
    if session.get_bind().dialect.name == "postgresql":
        return session.scalar(text("SELECT CAST(now() AT TIME ZONE 'UTC' AS timestamp)"))
    return utcnow()


def _owned_job(session, job_id: int, worker_id: str) -> Job | None:
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.status != "running" or job.worker_id != worker_id:
        return None
    return job


def _set_finished(session, job: Job, status: str, reason: str | None, now) -> None:
    job.status, job.error, job.finished_at = status, reason, now
    job.lease_expires_at = None
    if status == "succeeded" and job.progress_total:
        job.progress_step = job.progress_total
    job.eta_s = 0.0 if status == "succeeded" else None


# ----------------------------------------------------------------------------------------------
# user actions


def request_cancel(job_id: int, *, url: str | None = None) -> str:
    """Cancel a job: a queued one at once, a running one cooperatively. Returns the new status."""
    with write_session(url) as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            raise QueueError(f"no job with id {job_id}")
        if job.status == "queued":
            _set_finished(session, job, "cancelled", "cancelled before it started", _now(session))
        elif job.status == "running":
            job.cancel_requested = True
        return job.status


def requeue(job_id: int, *, url: str | None = None) -> None:
    """Queue a failed or cancelled job again; it resumes from its last checkpoint."""
    with write_session(url) as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            raise QueueError(f"no job with id {job_id}")
        if job.status not in ("failed", "cancelled"):
            raise QueueError(f"job {job_id} is {job.status}; only failed or cancelled jobs can be re-queued")
        job.status, job.attempts, job.cancel_requested = "queued", 0, False
        job.error, job.finished_at, job.worker_id, job.eta_s = None, None, None, None


def reap_expired_leases(*, url: str | None = None) -> list[int]:
    """Re-queue running jobs whose lease expired (their worker died); returns their ids.

    A job out of attempts is failed with the reason instead; one whose cancel was requested is
    recorded as cancelled.
    """
    with write_session(url) as session:
        now = _now(session)
        expired = session.scalars(
            select(Job).where(Job.status == "running", Job.lease_expires_at < now)
            .with_for_update(skip_locked=True)
        ).all()
        for job in expired:
            if job.cancel_requested:
                _set_finished(session, job, "cancelled", "cancelled (its worker stopped responding)", now)
            elif job.attempts >= job.max_attempts:
                _set_finished(session, job, "failed",
                              f"worker lost: lease of worker {job.worker_id} expired on attempt "
                              f"{job.attempts} of {job.max_attempts}", now)
            else:
                job.status, job.worker_id, job.lease_expires_at = "queued", None, None
        return [job.id for job in expired]


# ----------------------------------------------------------------------------------------------
# progress, logs, checkpoints


def set_progress(job_id: int, step: int, total: int, message: str = "",
                 eta_s: float | None = None, *, url: str | None = None) -> None:
    with write_session(url) as session:
        session.execute(update(Job).where(Job.id == job_id).values(
            progress_step=int(step), progress_total=int(total),
            progress_message=message[:500], eta_s=eta_s))


def set_checkpoint(job_id: int, path: str, *, url: str | None = None) -> None:
    """Record the newest checkpoint (path relative to the artifact root) to resume from."""
    with write_session(url) as session:
        session.execute(update(Job).where(Job.id == job_id).values(checkpoint_path=path))


def append_log_tail(job_id: int, text: str, *, url: str | None = None) -> None:
    """Append to the job's log tail, keeping the last LOG_TAIL_CHARS characters."""
    if not text:
        return
    with write_session(url) as session:
        job = session.get(Job, job_id)
        if job is not None:
            job.log_tail = ((job.log_tail or "") + text)[-LOG_TAIL_CHARS:]
