"""The write side of run tracking: metric points, artifacts, evaluations, notes and tags.

Each function is one short transaction; `write_evaluations` runs inside a caller's transaction,
so a job's success and its evaluation rows are committed together (`db.queue.complete`,
`db.queue.record_finished_run`). All functions take `url=` (default: `TASER_DATABASE_URL`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import Artifact, Evaluation, Job, Metric, Run, utcnow
from db.session import get_engine, write_session

def log_metrics(run_id: int, step: int, metrics: Mapping[str, float], *,
                url: str | None = None) -> None:
    """Record metric points at `step`; reporting the same (key, step) again overwrites it."""
    log_metric_points(run_id, [(step, metrics)], url=url)


METRIC_ROWS_PER_STATEMENT = 500  # well inside SQLite's limit on bound parameters


def log_metric_points(run_id: int, points: Sequence[tuple[int, Mapping[str, float]]], *,
                      url: str | None = None) -> None:
    """Record several steps' metric points in one transaction; idempotent per (key, step), the
    last report of a point winning, so a journal copied again (after an outage, on a resumed
    attempt) neither duplicates nor loses a point."""
    now = utcnow()
    latest: dict[tuple[str, int], float] = {}
    for step, metrics in points:
        for key, value in metrics.items():
            latest[(str(key), int(step))] = float(value)
    if not latest:
        return
    rows = [{"run_id": run_id, "key": key, "step": step, "value": value, "time": now}
            for (key, step), value in latest.items()]
    engine = get_engine(url)
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    with write_session(url) as session:
        for start in range(0, len(rows), METRIC_ROWS_PER_STATEMENT):
            statement = insert(Metric).values(rows[start:start + METRIC_ROWS_PER_STATEMENT])
            session.execute(statement.on_conflict_do_update(
                index_elements=["run_id", "key", "step"],
                set_={"value": statement.excluded.value, "time": statement.excluded.time}))


def add_artifact(run_id: int, kind: str, path: str, sha256: str, size_bytes: int, *,
                 url: str | None = None) -> None:
    """Record a file (path relative to the artifact root); recording a path again updates it."""
    with write_session(url) as session:
        artifact = session.scalars(
            select(Artifact).where(Artifact.run_id == run_id, Artifact.path == path)).first()
        if artifact is None:
            artifact = Artifact(run_id=run_id, path=path)
            session.add(artifact)
        artifact.kind, artifact.sha256, artifact.size_bytes = kind, sha256, int(size_bytes)
        artifact.created_at = utcnow()


EVALUATION_FIELDS = ("attack", "norm", "eps", "n", "clean_accuracy", "robust_accuracy", "per_sample", "extra")


def add_evaluation(run_id: int, attack: str, norm: str, eps: float, n: int,
                   clean_accuracy: float | None, robust_accuracy: float | None,
                   per_sample: Mapping[str, Any] | None = None,
                   extra: Mapping[str, Any] | None = None, *, url: str | None = None) -> int:
    """Store one robustness evaluation (accuracies as fractions in [0, 1]); returns its id."""
    row = {"attack": attack, "norm": norm, "eps": eps, "n": n, "clean_accuracy": clean_accuracy,
           "robust_accuracy": robust_accuracy, "per_sample": per_sample, "extra": extra}
    with write_session(url) as session:
        return write_evaluations(session, run_id, [row])[0]


def write_evaluations(session: Session, run_id: int, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Add evaluation rows (mappings of the `add_evaluation` fields) in `session`'s transaction;
    all are checked before any is written. Returns their ids."""
    evaluations = [_evaluation(run_id, row) for row in rows]
    session.add_all(evaluations)
    session.flush()
    return [evaluation.id for evaluation in evaluations]


def _evaluation(run_id: int, row: Mapping[str, Any]) -> Evaluation:
    unknown = set(row) - set(EVALUATION_FIELDS)
    if unknown:
        raise ValueError(f"unknown evaluation fields: {', '.join(sorted(unknown))}")
    for label in ("clean_accuracy", "robust_accuracy"):
        value = row.get(label)
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError(f"{label} must be a fraction in [0, 1], got {value}")
    per_sample, extra = row.get("per_sample"), row.get("extra")
    return Evaluation(run_id=run_id, attack=row["attack"], norm=row["norm"], eps=float(row["eps"]),
                      n=int(row["n"]), clean_accuracy=row.get("clean_accuracy"),
                      robust_accuracy=row.get("robust_accuracy"),
                      per_sample=dict(per_sample) if per_sample else None,
                      extra=dict(extra) if extra else None)


def archive_run(run_id: int, *, url: str | None = None) -> bool:
    """Hide a run from tables, pickers and result pages (nothing is deleted); False when there is
    no such run. Archiving an archived run keeps its first time."""
    with write_session(url) as session:
        run = session.get(Run, run_id)
        if run is None:
            return False
        run.archived_at = run.archived_at or utcnow()
        return True


def restore_run(run_id: int, *, url: str | None = None) -> bool:
    """Show an archived run again; False when there is no such run."""
    with write_session(url) as session:
        run = session.get(Run, run_id)
        if run is None:
            return False
        run.archived_at = None
        return True


def delete_run(run_id: int, *, url: str | None = None) -> bool:
    """Delete an archived, finished run with its job, metrics, evaluation rows and artifact rows
    (its files are the caller's to remove); runs that read it keep their own results. False when
    there is no such run; ValueError when it is not archived or its job may still write to it."""
    with write_session(url) as session:
        run = session.get(Run, run_id)
        if run is None:
            return False
        if run.archived_at is None:
            raise ValueError(f"run #{run_id} is not archived: archive it first (only archived runs are deleted)")
        job = session.scalars(select(Job).where(Job.run_id == run_id)).first()
        if job is not None and job.status in ("queued", "running"):
            raise ValueError(f"run #{run_id} is {job.status}: cancel it before deleting it")
        session.delete(run)
        return True


def set_run_notes(run_id: int, notes: str, *, url: str | None = None) -> None:
    with write_session(url) as session:
        session.get(Run, run_id).notes = notes


def set_run_tags(run_id: int, tags: Sequence[str], *, url: str | None = None) -> list[str]:
    """Replace a run's tags (trimmed, empty ones dropped, duplicates removed); returns them."""
    cleaned = list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))
    with write_session(url) as session:
        session.get(Run, run_id).tags = cleaned
    return cleaned
