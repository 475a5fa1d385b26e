"""Studies in the database: the study rows and the state of the runs that belong to them.

A study's runs are ordinary runs and jobs (queued, claimed and retried like any other); what
makes them a study's is `runs.study_id` + `runs.study_key`, written in the same transaction as the
job (`store.submit_job(..., study=(id, key))`) and unique together. That is what makes queueing a
study resumable and exactly-once: whatever was queued before a crash is found by key, and a key
cannot be queued twice, even by two processes at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select

from db.entities import StudyMember, StudyRecord, progress_fraction
from db.models import Job, Run, Study
from db.session import read_session, write_session


def create_study(name: str, spec: Mapping[str, Any], plan: Sequence[Mapping[str, Any]],
                 preset: str | None = None, *, url: str | None = None) -> int:
    with write_session(url) as session:
        study = Study(name=name, preset=preset, spec=dict(spec), plan=[dict(job) for job in plan], cancelled=False)
        session.add(study)
        session.flush()
        return study.id


def set_study_cancelled(study_id: int, cancelled: bool, *, url: str | None = None) -> None:
    with write_session(url) as session:
        study = session.get(Study, study_id)
        if study is not None:
            study.cancelled = cancelled


def _record(study: Study, queued_runs: int) -> StudyRecord:
    return StudyRecord(study.id, study.name, study.preset, study.spec, study.plan, study.cancelled,
                       study.created_at, queued_runs)


def _queued_counts(session, study_ids: Sequence[int]) -> dict[int, int]:
    rows = session.execute(select(Run.study_id, func.count(Run.id)).where(Run.study_id.in_(study_ids))
                           .group_by(Run.study_id))
    return dict(rows.all())


def get_study(study_id: int, *, url: str | None = None) -> StudyRecord | None:
    with read_session(url) as session:
        study = session.get(Study, study_id)
        return None if study is None else _record(study, _queued_counts(session, [study_id]).get(study_id, 0))


def list_studies(*, url: str | None = None) -> list[StudyRecord]:
    """Newest first."""
    with read_session(url) as session:
        studies = list(session.scalars(select(Study).order_by(Study.id.desc())))
        counts = _queued_counts(session, [s.id for s in studies])
        return [_record(s, counts.get(s.id, 0)) for s in studies]


def study_members(study_id: int, *, with_summaries: bool = True, url: str | None = None) -> dict[str, StudyMember]:
    """Plan key -> the queued job of that key (keys not queued yet are absent)."""
    with read_session(url) as session:
        rows = session.execute(select(Run, Job).join(Job, Job.run_id == Run.id).where(Run.study_id == study_id))
        return {run.study_key: StudyMember(run.study_key, run.id, job.id, job.status,
                                           progress_fraction(job.status, job.progress_step, job.progress_total),
                                           job.error,
                                           run.summary if with_summaries else None, job.started_at,
                                           job.finished_at, run.archived_at is not None)
                for run, job in rows.all()}


def finished_job_times(kinds: Sequence[str], limit: int = 500, *, url: str | None = None) -> list[tuple[str, dict, float]]:
    """(kind, config, seconds from start to finish) of the newest succeeded jobs of these kinds."""
    with read_session(url) as session:
        rows = session.execute(select(Run.kind, Run.config, Job.started_at, Job.finished_at)
                               .join(Job, Job.run_id == Run.id)
                               .where(Run.kind.in_(list(kinds)), Job.status == "succeeded",
                                      Job.started_at.is_not(None), Job.finished_at.is_not(None))
                               .order_by(Job.id.desc()).limit(limit))
        return [(kind, config, (end - start).total_seconds()) for kind, config, start, end in rows.all()]
