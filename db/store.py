"""The store: the one module other packages import from `db/` (`from db import store`).

As MLflow's tracking store, it is a facade over the queue's state machine (`db.queue`), the run
writes (`db.tracking`), the reads (`db.reads`) and the studies (`db.studies`); what it returns are the plain records of
`db.entities`. ORM rows (`db.models`) and sessions stay inside `db/`.
"""

from __future__ import annotations

from db.entities import (  # noqa: F401 - re-exported
    FINISHED_STATES, JOB_STATES, RUN_NAME_LENGTH, ArtifactRecord, DependencyRecord, EvaluationRecord, Heartbeat,
    HeadlineRecord, JobRecord, RunDetail, RunRecord, StudyMember, StudyRecord, WorkerRecord, progress_fraction,
)
from db.queue import (  # noqa: F401 - re-exported
    DEFAULT_MAX_ATTEMPTS, LOG_TAIL_CHARS, QueueError, append_log_tail, cancel, claim_next_job, complete, fail,
    fail_jobs_with_failed_dependencies, heartbeat, job_control, reap_expired_leases, record_finished_run, release,
    request_cancel, requeue, retry_or_fail, set_checkpoint, set_progress, StudyKeyTaken, submit_job,
)
from db.reads import (  # noqa: F401 - re-exported
    active_workers, all_tags, artifacts_of, database_location, dependencies_of, finished_results, get_job, get_run,
    headline_results, latest_metrics, list_evaluations, list_jobs, list_runs, metric_keys, metric_series,
    metric_stats, metric_step_times, run_kinds, run_metrics, runs_by_id, status_counts, thin,
)
from db.session import (  # noqa: F401 - re-exported
    DatabaseUnavailableError, database_url, describe, dispose_engines, first_line, get_engine, is_unavailable,
)
from db.studies import (  # noqa: F401 - re-exported
    create_study, finished_job_times, get_study, list_studies, set_study_cancelled, study_members,
)
from db.tracking import (  # noqa: F401 - re-exported
    EVALUATION_FIELDS, add_artifact, add_evaluation, archive_run, delete_run, log_metric_points, log_metrics,
    restore_run, set_run_notes, set_run_tags,
)


def is_finished(job: JobRecord) -> bool:
    return job.is_finished
