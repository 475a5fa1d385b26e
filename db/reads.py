"""Every read of the store, for the dashboard, the CLI and the worker; nothing here writes.

Reads return the plain records of `db.entities`, never ORM rows. A run's status and times are
its job's (`db.models`), so they are read from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import defer

from db.entities import (
    ArtifactRecord, DependencyRecord, EvaluationRecord, HeadlineRecord, JobRecord, RunDetail, RunRecord,
    WorkerRecord, iso, progress_fraction,
)
from db.models import Artifact, Evaluation, Job, JobDependency, Metric, Run, utcnow
from db.session import database_url, read_session

# Light rows (big tables) leave out a run's config and summary, which can be long JSON.
LIGHT_RUN_COLUMNS = (Run.id, Run.kind, Run.name, Run.parent_run_id, Run.tags, Run.notes, Run.archived_at)


# ----------------------------------------------------------------------------------------------
# jobs


def job_record(job: Job, run: Run) -> JobRecord:
    return JobRecord(
        id=job.id, run_id=job.run_id, kind=run.kind, config=run.config, status=job.status,
        priority=job.priority, attempts=job.attempts, max_attempts=job.max_attempts,
        worker_id=job.worker_id, cancel_requested=bool(job.cancel_requested),
        progress_step=job.progress_step or 0, progress_total=job.progress_total or 0,
        progress_message=job.progress_message or "", eta_s=job.eta_s,
        checkpoint_path=job.checkpoint_path, error=job.error, log_tail=job.log_tail or "",
        created_at=iso(job.created_at), started_at=iso(job.started_at), finished_at=iso(job.finished_at),
        heartbeat_at=iso(job.heartbeat_at), lease_expires_at=iso(job.lease_expires_at))


def get_job(job_id: int, *, url: str | None = None) -> JobRecord | None:
    with read_session(url) as session:
        row = session.execute(select(Job, Run).join(Run, Run.id == Job.run_id).where(Job.id == job_id)).first()
        return None if row is None else job_record(*row)


def list_jobs(status: str | Sequence[str] | None = None, kind: str | None = None,
              limit: int = 200, *, url: str | None = None) -> list[JobRecord]:
    """Jobs, newest first, optionally filtered by status (one or several) and kind."""
    query = select(Job, Run).join(Run, Run.id == Job.run_id).order_by(Job.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Job.status.in_(_as_list(status)))
    if kind is not None:
        query = query.where(Run.kind == kind)
    with read_session(url) as session:
        return [job_record(job, run) for job, run in session.execute(query)]


def dependencies_of(job_id: int, *, url: str | None = None) -> list[DependencyRecord]:
    """The runs a job waits for, with their current status, in id order."""
    with read_session(url) as session:
        rows = session.execute(select(Job.run_id, Job.status).join(JobDependency, JobDependency.run_id == Job.run_id)
                               .where(JobDependency.job_id == job_id).order_by(Job.run_id)).all()
    return [DependencyRecord(run_id=run_id, status=status) for run_id, status in rows]


def active_workers(within_s: float = 120.0, *, url: str | None = None) -> list[WorkerRecord]:
    """Workers that heartbeated a running job within `within_s` seconds."""
    since = utcnow() - timedelta(seconds=within_s)
    query = (select(Job.worker_id, Job.id, Job.heartbeat_at)
             .where(Job.status == "running", Job.heartbeat_at >= since))
    with read_session(url) as session:
        return [WorkerRecord(worker_id=worker, job_id=job_id, heartbeat_at=iso(beat))
                for worker, job_id, beat in session.execute(query)]


def status_counts(*, include_archived: bool = False, url: str | None = None) -> dict[str, int]:
    """Jobs per state; archived runs' jobs left out unless asked (they leave every table)."""
    query = select(Job.status, func.count()).join(Run, Run.id == Job.run_id).group_by(Job.status)
    if not include_archived:
        query = query.where(Run.archived_at.is_(None))
    with read_session(url) as session:
        return {status: count for status, count in session.execute(query)}


# ----------------------------------------------------------------------------------------------
# runs


def list_runs(kind: str | Sequence[str] | None = None, status: str | Sequence[str] | None = None,
              tag: str | None = None, parent_run_id: int | None = None, name_contains: str | None = None,
              limit: int = 500, *, model_run: int | None = None, light: bool = False,
              include_archived: bool = False, url: str | None = None) -> list[RunRecord]:
    """Runs, newest first, each with its job's state; `light=True` leaves out config and summary
    (cheap for tables of hundreds of rows). Archived runs are left out unless `include_archived`;
    `model_run`: only runs whose config reads that run as `model_run` (its evaluations)."""
    run_part = LIGHT_RUN_COLUMNS if light else (Run,)
    query = select(*run_part, Job).join(Job, Job.run_id == Run.id).order_by(Run.id.desc())
    if not include_archived:
        query = query.where(Run.archived_at.is_(None))
    if kind:
        query = query.where(Run.kind.in_(_as_list(kind)))
    if status:
        query = query.where(Job.status.in_(_as_list(status)))
    if parent_run_id is not None:
        query = query.where(Run.parent_run_id == parent_run_id)
    if model_run is not None:
        query = query.where(Run.config["model_run"].as_integer() == model_run)
    if name_contains:
        query = query.where(Run.name.contains(name_contains))
    with read_session(url) as session:
        rows = session.execute(query.limit(limit if tag is None else limit * 10)).all()
    runs = [_light_record(row) if light else run_record(*row) for row in rows]
    if tag:  # JSON containment differs per database; tag lists are short, filter here
        runs = [run for run in runs if tag in run.tags][:limit]
    return runs


def finished_results(kind: str, limit: int = 50, *, include_archived: bool = False,
                     url: str | None = None) -> list[RunRecord]:
    """Succeeded runs of `kind`, newest first, with config and summary (the result pages' input);
    archived ones left out unless `include_archived`."""
    return list_runs(kind=kind, status="succeeded", limit=limit, include_archived=include_archived, url=url)


def runs_by_id(run_ids: Sequence[int], *, url: str | None = None) -> list[RunRecord]:
    """Full runs (config, summary) for the given ids, in the given order."""
    if not run_ids:
        return []
    query = select(Run, Job).join(Job, Job.run_id == Run.id).where(Run.id.in_(list(run_ids)))
    with read_session(url) as session:
        found = {run.id: run_record(run, job) for run, job in session.execute(query)}
    return [found[run_id] for run_id in run_ids if run_id in found]


def get_run(run_id: int, *, url: str | None = None) -> RunDetail | None:
    """One run with its job, evaluations, artifacts, metric keys and dependencies; None when
    there is no such run."""
    with read_session(url) as session:
        row = session.execute(select(Run, Job).join(Job, Job.run_id == Run.id).where(Run.id == run_id)).first()
        if row is None:
            return None
        run, job = row
        base = run_record(run, job)
        fields = {name: getattr(base, name) for name in base.keys()}
        return RunDetail(**fields, job=job_record(job, run), log_tail=job.log_tail or "",
                         evaluations=list_evaluations([run_id], url=url),
                         artifacts=artifacts_of(run_id, url=url),
                         metric_keys=metric_keys(run_id, url=url),
                         dependencies=dependencies_of(job.id, url=url))


def run_record(run: Run, job: Job) -> RunRecord:
    return _record(run.id, run.kind, run.name, run.parent_run_id, run.tags, run.notes, run.archived_at, job,
                   config=run.config, summary=run.summary)


def _light_record(row) -> RunRecord:
    return _record(*row[:-1], row[-1], config=None, summary=None)


def _record(run_id, kind, name, parent_run_id, tags, notes, archived_at, job: Job, *, config, summary) -> RunRecord:
    return RunRecord(
        id=run_id, kind=kind, name=name, status=job.status, parent_run_id=parent_run_id,
        tags=list(tags or []), notes=notes or "", config=config, summary=summary,
        created_at=iso(job.created_at), started_at=iso(job.started_at), finished_at=iso(job.finished_at),
        job_id=job.id, progress=progress_fraction(job.status, job.progress_step, job.progress_total),
        progress_message=job.progress_message or "", eta_s=job.eta_s, error=job.error,
        attempts=job.attempts, worker_id=job.worker_id, cancel_requested=bool(job.cancel_requested),
        archived_at=iso(archived_at))


def all_tags(*, url: str | None = None) -> list[str]:
    with read_session(url) as session:
        tag_lists = session.scalars(select(Run.tags)).all()
    return sorted({tag for tags in tag_lists for tag in (tags or [])})


def run_kinds(*, url: str | None = None) -> list[str]:
    with read_session(url) as session:
        return sorted(session.scalars(select(Run.kind).distinct()))


# ----------------------------------------------------------------------------------------------
# metrics


def metric_keys(run_ids: int | Sequence[int], *, url: str | None = None) -> list[str]:
    """The metric keys of one run or of several, sorted."""
    ids = [run_ids] if isinstance(run_ids, int) else list(run_ids)
    if not ids:
        return []
    with read_session(url) as session:
        return list(session.scalars(select(Metric.key).where(Metric.run_id.in_(ids))
                                    .distinct().order_by(Metric.key)))


def metric_series(run_ids: Sequence[int], keys: Sequence[str] | None = None,
                  max_points: int = 2000, *, url: str | None = None) -> dict[int, dict[str, list[tuple[int, float]]]]:
    """{run_id: {key: [(step, value), ...]}} in step order, each series thinned to about
    `max_points` evenly spaced points (always keeping the last; 0: all), so plots stay fast.

    The database does the thinning (what `thin` does), so a long run sends only its plot's
    points: series are counted first (from the (run, key, step) index), the short ones read
    whole in one query, each long one by rank, reading the table only for the ranks it keeps."""
    if not run_ids:
        return {}
    where = [Metric.run_id.in_(list(run_ids))] + ([Metric.key.in_(list(keys))] if keys is not None else [])
    series: dict[int, dict[str, list[tuple[int, float]]]] = {}
    with read_session(url) as session:
        counts = session.execute(select(Metric.run_id, Metric.key, func.count()).where(*where)
                                 .group_by(Metric.run_id, Metric.key).order_by(Metric.run_id, Metric.key)).all()
        short: dict[int, list[str]] = {}
        for run_id, key, count in counts:
            series.setdefault(run_id, {})[key] = []
            if max_points <= 0 or count <= max_points:
                short.setdefault(run_id, []).append(key)
        if short:
            whole = select(Metric.run_id, Metric.key, Metric.step, Metric.value).where(
                or_(*(and_(Metric.run_id == run_id, Metric.key.in_(mine)) for run_id, mine in short.items())))
            for run_id, key, step, value in session.execute(whole.order_by(Metric.step)):
                series[run_id][key].append((step, value))
        for run_id, key, count in counts:
            if max_points > 0 and count > max_points:
                series[run_id][key] = _thinned_series(session, run_id, key, count, max_points)
    return series


def _thinned_series(session, run_id: int, key: str, count: int, max_points: int) -> list[tuple[int, float]]:
    stride = -(-count // max_points)
    ranked = (select(Metric.id, func.row_number().over(order_by=Metric.step).label("rank"))
              .where(Metric.run_id == run_id, Metric.key == key).subquery())
    kept = select(ranked.c.id).where(((ranked.c.rank - 1) % stride == 0) | (ranked.c.rank == count))
    return [tuple(row) for row in session.execute(
        select(Metric.step, Metric.value).where(Metric.id.in_(kept)).order_by(Metric.step))]


def run_metrics(run_id: int, keys: Sequence[str] | None = None, *,
                url: str | None = None) -> dict[str, list[tuple[int, float]]]:
    """Every point of one run's metric series: {key: [(step, value), ...]} in step order."""
    return metric_series([run_id], keys, max_points=0, url=url).get(run_id, {})


def thin(points: list, max_points: int) -> list:
    """Every stride-th point and the last, at most about `max_points`: what `metric_series` keeps
    in the database, for series already in memory."""
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


def metric_stats(run_ids: Sequence[int], *, url: str | None = None) -> dict[int, dict[str, dict[str, float]]]:
    """Over every stored point (not a thinned series): {run_id: {key: {"last", "min", "max"}}}."""
    if not run_ids:
        return {}
    query = (select(Metric.run_id, Metric.key, func.min(Metric.value), func.max(Metric.value))
             .where(Metric.run_id.in_(list(run_ids))).group_by(Metric.run_id, Metric.key))
    latest = latest_metrics(run_ids, url=url)
    result: dict[int, dict[str, dict[str, float]]] = {}
    with read_session(url) as session:
        for run_id, key, low, high in session.execute(query):
            result.setdefault(run_id, {})[key] = {"last": latest.get(run_id, {}).get(key), "min": low, "max": high}
    return result


def metric_step_times(run_ids: Sequence[int], *, url: str | None = None) -> dict[int, list[tuple[int, float]]]:
    """{run_id: [(step, seconds since the run's first stored point)]} in step order: when each
    step's points were stored (a wall-time axis for the curves). The worker copies points into
    the database every 0.25 s, so a stored time is within that of the measurement, except for
    points held back through a database outage."""
    if not run_ids:
        return {}
    query = (select(Metric.run_id, Metric.step, func.min(Metric.time)).where(Metric.run_id.in_(list(run_ids)))
             .group_by(Metric.run_id, Metric.step).order_by(Metric.run_id, Metric.step))
    stamps: dict[int, list] = {}
    with read_session(url) as session:
        for run_id, step, time in session.execute(query):
            stamps.setdefault(run_id, []).append((step, time))
    result = {}
    for run_id, points in stamps.items():
        start = min(time for _, time in points)
        result[run_id] = [(step, (time - start).total_seconds()) for step, time in points]
    return result


# ----------------------------------------------------------------------------------------------
# evaluations and artifacts


def list_evaluations(run_ids: Sequence[int] | None = None, *, with_per_sample: bool = True,
                     include_archived: bool = False, url: str | None = None) -> list[EvaluationRecord]:
    """Evaluations in id order, of the given runs or of all unarchived ones (`include_archived`:
    all); `with_per_sample=False` leaves the per-sample outcomes (long lists) out."""
    query = select(Evaluation).order_by(Evaluation.id)
    if run_ids is not None:
        query = query.where(Evaluation.run_id.in_(list(run_ids)))
    elif not include_archived:
        query = query.where(Evaluation.run_id.in_(select(Run.id).where(Run.archived_at.is_(None))))
    if not with_per_sample:
        query = query.options(defer(Evaluation.per_sample))
    with read_session(url) as session:
        return [_evaluation_record(row, with_per_sample) for row in session.scalars(query)]


def _evaluation_record(row: Evaluation, with_per_sample: bool) -> EvaluationRecord:
    return EvaluationRecord(
        id=row.id, run_id=row.run_id, attack=row.attack, norm=row.norm, eps=row.eps, n=row.n,
        clean_accuracy=row.clean_accuracy, robust_accuracy=row.robust_accuracy,
        per_sample=row.per_sample if with_per_sample else None, extra=row.extra,
        created_at=iso(row.created_at))


EVALUATE_KIND = "evaluate"
STEP_TIME_FIELDS = ("ms_per_sample", "ms_per_sample_without_penalty", "penalty_ms_per_sample")


def headline_results(run_ids: Sequence[int], *, url: str | None = None) -> dict[int, HeadlineRecord]:
    """The numbers a runs table shows beside each of `run_ids`, in one read: for an `evaluate`
    run its own evaluation rows; for any other run those of its newest succeeded, unarchived
    evaluation (config `model_run` = the run) that stored rows. Step times come from the run's
    summary, or for an evaluation from its model run's. Runs without either are absent."""
    ids = list(run_ids)
    if not ids:
        return {}
    model_run = Run.config["model_run"].as_integer()
    with read_session(url) as session:
        evaluations = session.execute(  # an archived evaluation shows its own numbers, not its model's
            select(Run.id, model_run, Run.archived_at.is_not(None)).join(Job, Job.run_id == Run.id)
            .where(Run.kind == EVALUATE_KIND, Job.status == "succeeded",
                   Run.id.in_(ids) | (model_run.in_(ids) & Run.archived_at.is_(None)))
            .order_by(Run.id.desc())).all()
        rows: dict[int, list[EvaluationRecord]] = {}
        evaluation_ids = [evaluation_id for evaluation_id, _, _ in evaluations]
        for row in session.scalars(select(Evaluation).options(defer(Evaluation.per_sample))
                                   .where(Evaluation.run_id.in_(evaluation_ids)).order_by(Evaluation.id)):
            rows.setdefault(row.run_id, []).append(_evaluation_record(row, with_per_sample=False))
        speaking: dict[int, int] = {}  # run -> the evaluation run whose rows it shows
        trained: dict[int, int] = {}  # evaluation run -> its model run
        wanted = set(ids)
        archived = {evaluation_id for evaluation_id, _, is_archived in evaluations if is_archived}
        for evaluation_id, model_id, _ in evaluations:  # newest first: the first that fits wins
            if model_id is not None:
                trained[evaluation_id] = model_id
            if evaluation_id not in rows:
                continue
            if evaluation_id in wanted:
                speaking.setdefault(evaluation_id, evaluation_id)
            if model_id in wanted and evaluation_id not in archived:
                speaking.setdefault(model_id, evaluation_id)
        # an evaluation's own summary (long per-sample lists) is never parsed: its times are its model's
        timed = {trained.get(run_id, run_id) for run_id in ids}
        fields = [Run.summary[name].as_float() for name in ("clean_acc", *STEP_TIME_FIELDS)]
        summaries = {run_id: values for run_id, *values in
                     session.execute(select(Run.id, *fields).where(Run.id.in_(timed)))}
    headlines = {}
    for run_id in ids:
        evaluation_id = speaking.get(run_id)
        clean_acc = None if run_id in trained else summaries.get(run_id, [None])[0]
        steps = summaries.get(trained.get(run_id, run_id), [None] * 4)[1:]  # an evaluation's: its model's
        if evaluation_id is None and clean_acc is None and all(value is None for value in steps):
            continue
        headlines[run_id] = HeadlineRecord(
            run_id=run_id, evaluation_run_id=evaluation_id, evaluations=rows.get(evaluation_id, []),
            train_clean_acc=clean_acc, ms_per_sample=steps[0], ms_per_sample_without_penalty=steps[1],
            penalty_ms_per_sample=steps[2])
    return headlines


def artifacts_of(run_id: int, *, url: str | None = None) -> list[ArtifactRecord]:
    query = select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.id)
    with read_session(url) as session:
        return [ArtifactRecord(id=row.id, run_id=row.run_id, kind=row.kind, path=row.path, sha256=row.sha256,
                               size_bytes=row.size_bytes, created_at=iso(row.created_at))
                for row in session.scalars(query)]


def database_location() -> str:
    """The database URL as it may be shown to a user (PostgreSQL password hidden)."""
    from sqlalchemy.engine import make_url

    return make_url(database_url()).render_as_string(hide_password=True)


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
