"""Read-side queries for the dashboard and the CLI, so pages never contain SQL.

Results are plain dicts and lists (JSON-ready), never live ORM objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from db.models import Artifact, Evaluation, Job, JobDependency, Metric, Run
from db.session import read_session


def list_runs(kind: str | None = None, status: str | Sequence[str] | None = None,
              tag: str | None = None, parent_run_id: int | None = None, name_contains: str | None = None,
              limit: int = 500, *, url: str | None = None) -> list[dict[str, Any]]:
    """Runs, newest first, each with its job's id, progress and error."""
    query = select(Run, Job).join(Job, Job.run_id == Run.id, isouter=True).order_by(Run.id.desc())
    if kind is not None:
        query = query.where(Run.kind == kind)
    if status is not None:
        query = query.where(Run.status.in_([status] if isinstance(status, str) else list(status)))
    if parent_run_id is not None:
        query = query.where(Run.parent_run_id == parent_run_id)
    if name_contains:
        query = query.where(Run.name.contains(name_contains))
    with read_session(url) as session:
        rows = session.execute(query.limit(limit if tag is None else limit * 10)).all()
    runs = [_run_row(run, job) for run, job in rows]
    if tag is not None:  # JSON containment differs per database; filter here, lists are short
        runs = [run for run in runs if tag in (run["tags"] or [])][:limit]
    return runs


def get_run(run_id: int, *, url: str | None = None) -> dict[str, Any] | None:
    """One run with its job, evaluations and artifacts; None when there is no such run."""
    with read_session(url) as session:
        run = session.get(Run, run_id)
        if run is None:
            return None
        job = session.scalars(select(Job).where(Job.run_id == run_id)).first()
        evaluations = session.scalars(
            select(Evaluation).where(Evaluation.run_id == run_id).order_by(Evaluation.id)).all()
        artifacts = session.scalars(
            select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.id)).all()
        result = _run_row(run, job)
        result["job"] = job.to_dict() if job else None
        result["log_tail"] = job.log_tail if job else ""
        result["evaluations"] = [evaluation.to_dict() for evaluation in evaluations]
        result["artifacts"] = [artifact.to_dict() for artifact in artifacts]
        result["metric_keys"] = metric_keys(run_id, url=url)
        result["dependencies"] = dependencies_of(job.id, url=url) if job else []
        return result


def dependencies_of(job_id: int, *, url: str | None = None) -> list[dict[str, Any]]:
    """The runs a job waits for, with their current status, in id order."""
    with read_session(url) as session:
        rows = session.execute(select(Run.id, Run.status).join(JobDependency, JobDependency.run_id == Run.id)
                               .where(JobDependency.job_id == job_id).order_by(Run.id)).all()
    return [{"run_id": run_id, "status": status} for run_id, status in rows]


def metric_keys(run_id: int, *, url: str | None = None) -> list[str]:
    with read_session(url) as session:
        return list(session.scalars(
            select(Metric.key).where(Metric.run_id == run_id).distinct().order_by(Metric.key)))


def run_metrics(run_id: int, keys: Sequence[str] | None = None, *,
                url: str | None = None) -> dict[str, list[tuple[int, float]]]:
    """Metric series of a run: {key: [(step, value), ...]} in step order."""
    query = select(Metric.key, Metric.step, Metric.value).where(Metric.run_id == run_id)
    if keys is not None:
        query = query.where(Metric.key.in_(list(keys)))
    series: dict[str, list[tuple[int, float]]] = {}
    with read_session(url) as session:
        for key, step, value in session.execute(query.order_by(Metric.key, Metric.step)):
            series.setdefault(key, []).append((step, value))
    return series


def list_evaluations(run_ids: Sequence[int] | None = None, *,
                     url: str | None = None) -> list[dict[str, Any]]:
    query = select(Evaluation).order_by(Evaluation.id)
    if run_ids is not None:
        query = query.where(Evaluation.run_id.in_(list(run_ids)))
    with read_session(url) as session:
        return [evaluation.to_dict() for evaluation in session.scalars(query)]


def _run_row(run: Run, job: Job | None) -> dict[str, Any]:
    row = run.to_dict()
    row["job_id"] = job.id if job else None
    row["progress"] = job.progress if job else None
    row["eta_s"] = job.eta_s if job else None
    row["error"] = job.error if job else None
    return row
