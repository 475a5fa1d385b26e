"""Read-only queries the dashboard needs beyond `db.queries`: light run rows for big tables,
queue counts, worker liveness, and metric series of several runs at once, thinned for plotting.

Like `db.queries`, every function returns plain JSON-ready data and never writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from db.models import Artifact, Evaluation, Job, Metric, Run, _iso, utcnow
from db.session import database_url, read_session

RUN_COLUMNS = (Run.id, Run.kind, Run.name, Run.status, Run.tags, Run.parent_run_id,
               Run.created_at, Run.started_at, Run.finished_at)
JOB_COLUMNS = (Job.id, Job.progress_step, Job.progress_total, Job.progress_message, Job.eta_s,
               Job.error, Job.attempts, Job.worker_id, Job.cancel_requested)


def run_table(kind: str | Sequence[str] | None = None, status: Sequence[str] | None = None,
              tag: str | None = None, name_contains: str | None = None, limit: int = 500, *,
              url: str | None = None) -> list[dict[str, Any]]:
    """Runs newest first without their config and summary (cheap for hundreds of rows)."""
    query = (select(*RUN_COLUMNS, *JOB_COLUMNS).join(Job, Job.run_id == Run.id, isouter=True)
             .order_by(Run.id.desc()))
    if kind:
        query = query.where(Run.kind.in_([kind] if isinstance(kind, str) else list(kind)))
    if status:
        query = query.where(Run.status.in_(list(status)))
    if name_contains:
        query = query.where(Run.name.contains(name_contains))
    with read_session(url) as session:
        rows = session.execute(query.limit(limit if tag is None else limit * 10)).all()
    table = [_light_row(row) for row in rows]
    if tag:  # JSON containment differs per database; tag lists are short, filter here
        table = [row for row in table if tag in row["tags"]][:limit]
    return table


def _light_row(row) -> dict[str, Any]:
    (run_id, kind, name, status, tags, parent, created, started, finished,
     job_id, step, total, message, eta_s, error, attempts, worker_id, cancel_requested) = row
    progress = 1.0 if status == "succeeded" else (min(1.0, step / total) if total else 0.0)
    return {"id": run_id, "kind": kind, "name": name, "status": status, "tags": list(tags or []),
            "parent_run_id": parent, "created_at": _iso(created), "started_at": _iso(started),
            "finished_at": _iso(finished), "job_id": job_id, "progress": progress,
            "progress_message": message or "", "eta_s": eta_s, "error": error,
            "attempts": attempts, "worker_id": worker_id, "cancel_requested": bool(cancel_requested)}


def status_counts(*, url: str | None = None) -> dict[str, int]:
    with read_session(url) as session:
        return {status: count for status, count in
                session.execute(select(Run.status, func.count()).group_by(Run.status))}


def all_tags(*, url: str | None = None) -> list[str]:
    with read_session(url) as session:
        tag_lists = session.scalars(select(Run.tags)).all()
    return sorted({tag for tags in tag_lists for tag in (tags or [])})


def run_kinds(*, url: str | None = None) -> list[str]:
    with read_session(url) as session:
        return sorted(session.scalars(select(Run.kind).distinct()))


def active_workers(within_s: float = 120.0, *, url: str | None = None) -> list[dict[str, Any]]:
    """Workers that heartbeated a running job within `within_s` seconds."""
    since = utcnow() - timedelta(seconds=within_s)
    query = (select(Job.worker_id, Job.id, Job.heartbeat_at)
             .where(Job.status == "running", Job.heartbeat_at >= since))
    with read_session(url) as session:
        return [{"worker_id": worker, "job_id": job_id, "heartbeat_at": _iso(beat)}
                for worker, job_id, beat in session.execute(query)]


def finished_results(kind: str, limit: int = 50, *, url: str | None = None) -> list[dict[str, Any]]:
    """Succeeded runs of `kind`, newest first, with config and summary (the result pages' input)."""
    query = (select(Run).where(Run.kind == kind, Run.status == "succeeded")
             .order_by(Run.id.desc()).limit(limit))
    with read_session(url) as session:
        return [run.to_dict() for run in session.scalars(query)]


def runs_by_id(run_ids: Sequence[int], *, url: str | None = None) -> list[dict[str, Any]]:
    """Full run dicts (config, summary) for the given ids, in the given order."""
    if not run_ids:
        return []
    with read_session(url) as session:
        found = {run.id: run.to_dict() for run in session.scalars(select(Run).where(Run.id.in_(list(run_ids))))}
    return [found[run_id] for run_id in run_ids if run_id in found]


def metric_keys_of(run_ids: Sequence[int], *, url: str | None = None) -> list[str]:
    if not run_ids:
        return []
    with read_session(url) as session:
        return list(session.scalars(select(Metric.key).where(Metric.run_id.in_(list(run_ids)))
                                    .distinct().order_by(Metric.key)))


def metric_series(run_ids: Sequence[int], keys: Sequence[str] | None = None,
                  max_points: int = 2000, *, url: str | None = None) -> dict[int, dict[str, list[tuple[int, float]]]]:
    """{run_id: {key: [(step, value), ...]}} in step order, each series thinned to about
    `max_points` evenly spaced points (always keeping the last), so plots stay fast."""
    if not run_ids:
        return {}
    query = select(Metric.run_id, Metric.key, Metric.step, Metric.value).where(
        Metric.run_id.in_(list(run_ids)))
    if keys is not None:
        query = query.where(Metric.key.in_(list(keys)))
    series: dict[int, dict[str, list[tuple[int, float]]]] = {}
    with read_session(url) as session:
        for run_id, key, step, value in session.execute(query.order_by(Metric.run_id, Metric.key, Metric.step)):
            series.setdefault(run_id, {}).setdefault(key, []).append((step, value))
    return {run_id: {key: thin(points, max_points) for key, points in by_key.items()}
            for run_id, by_key in series.items()}


def thin(points: list, max_points: int) -> list:
    if max_points <= 0 or len(points) <= max_points:
        return points
    stride = -(-len(points) // max_points)
    kept = points[::stride]
    if kept[-1] is not points[-1]:
        kept.append(points[-1])
    return kept


def latest_metrics(run_ids: Sequence[int], *, url: str | None = None) -> dict[int, dict[str, float]]:
    """The last reported value of every metric of each run: {run_id: {key: value}}."""
    if not run_ids:
        return {}
    last_step = (select(Metric.run_id, Metric.key, func.max(Metric.step).label("step"))
                 .where(Metric.run_id.in_(list(run_ids))).group_by(Metric.run_id, Metric.key).subquery())
    query = select(Metric.run_id, Metric.key, Metric.value).join(
        last_step, (Metric.run_id == last_step.c.run_id) & (Metric.key == last_step.c.key)
        & (Metric.step == last_step.c.step))
    result: dict[int, dict[str, float]] = {}
    with read_session(url) as session:
        for run_id, key, value in session.execute(query):
            result.setdefault(run_id, {})[key] = value
    return result


def evaluations_of_runs(run_ids: Sequence[int] | None = None, *, with_per_sample: bool = True,
                        url: str | None = None) -> list[dict[str, Any]]:
    query = select(Evaluation).order_by(Evaluation.id)
    if run_ids is not None:
        query = query.where(Evaluation.run_id.in_(list(run_ids)))
    with read_session(url) as session:
        rows = [evaluation.to_dict() for evaluation in session.scalars(query)]
    if not with_per_sample:
        for row in rows:
            row.pop("per_sample", None)
    return rows


def artifacts_of(run_id: int, *, url: str | None = None) -> list[dict[str, Any]]:
    with read_session(url) as session:
        return [artifact.to_dict() for artifact in
                session.scalars(select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.id))]


def database_location() -> str:
    """The database URL as it may be shown to a user (PostgreSQL password hidden)."""
    from sqlalchemy.engine import make_url

    return make_url(database_url()).render_as_string(hide_password=True)
