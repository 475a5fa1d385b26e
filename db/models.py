"""The schema (ORM rows, private to `db/`): runs, jobs (the queue), job dependencies, metrics,
evaluations, artifacts, studies.

A run is one piece of work and its results (a training, an evaluation, a benchmark): kind,
config, name, tags, notes, summary, and when it was archived (hidden, not deleted). Its job is
the queue entry that gets it executed, one job per run, and the only place its status and times
are kept (a run recorded without being queued gets a succeeded job), so the two can never
disagree. A job may wait for other runs to succeed (its dependencies). Metrics are append-only
points unique on (run, key, step), so a resumed job that reports a step again overwrites instead
of duplicating. Times are naive UTC. Artifact paths are relative to the artifact root, so a
database and its artifact folder can move together.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.entities import RUN_NAME_LENGTH, STUDY_KEY_LENGTH


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str | None] = mapped_column(String(RUN_NAME_LENGTH))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # validated config of the job kind
    parent_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # final result of the job
    # A study's run: which study and which job of its plan. Unique together, so a study's job is
    # queued once even when two processes resume the same study at the same moment.
    study_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id", ondelete="SET NULL"), index=True)
    study_key: Mapped[str | None] = mapped_column(String(STUDY_KEY_LENGTH))
    # Set: hidden from tables, pickers and result pages (kept, and shown again on restore).
    archived_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (Index("uq_runs_study_key", "study_id", "study_key", unique=True),)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "status", "priority", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    progress_step: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    progress_message: Mapped[str] = mapped_column(String(500), default="")
    eta_s: Mapped[float | None] = mapped_column(Float)
    checkpoint_path: Mapped[str | None] = mapped_column(String(1000))  # relative to artifact root
    log_tail: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)  # readable failure reason
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class JobDependency(Base):
    """A run whose success a queued job waits for (a fine-tune needs its source and score runs)."""

    __tablename__ = "job_dependencies"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True, index=True)


class Metric(Base):
    __tablename__ = "metrics"
    __table_args__ = (UniqueConstraint("run_id", "key", "step", name="uq_metrics_run_key_step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    step: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    time: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Evaluation(Base):
    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    attack: Mapped[str] = mapped_column(String(64))
    norm: Mapped[str] = mapped_column(String(16))
    eps: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    clean_accuracy: Mapped[float | None] = mapped_column(Float)  # fractions in [0, 1]
    robust_accuracy: Mapped[float | None] = mapped_column(Float)
    per_sample: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # e.g. {"clean": [0,1,..]}
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("run_id", "path", name="uq_artifacts_run_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))  # "log", "model", "figure", ...
    path: Mapped[str] = mapped_column(String(1000))  # relative to the artifact root
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Study(Base):
    """A named grid of runs (see app/studies): its spec and the plan made from it, frozen when the
    study was created, so resuming or retrying it never re-plans under changed code."""

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(RUN_NAME_LENGTH))
    preset: Mapped[str | None] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    plan: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # PlannedJob dicts in queue order
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)  # stops a resume from queueing more
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
