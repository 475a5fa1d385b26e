"""Queue semantics on real SQLite and PostgreSQL databases, in-process (no workers)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from db import store
from db.migrate import SCHEMA_HEAD, head_revision
from db.session import dispose_engines, get_engine
from tests.queue_support import REPO_ROOT, sqlite_or_postgres_url, sqlite_url  # noqa: F401 - fixture


@pytest.fixture
def url(sqlite_or_postgres_url):
    return sqlite_or_postgres_url


def test_claim_order_and_exclusive_ownership(url):
    low = store.submit_job("noop", {}, url=url)
    high = store.submit_job("noop", {}, priority=5, url=url)
    first = store.claim_next_job("w1", 30, url=url)
    second = store.claim_next_job("w2", 30, url=url)
    assert (first.id, second.id) == (high, low)
    assert store.claim_next_job("w3", 30, url=url) is None
    assert store.heartbeat(first.id, "w1", 30, url=url).owned
    assert not store.heartbeat(first.id, "w2", 30, url=url).owned
    assert store.job_control(first.id, "w1", url=url).owned
    assert not store.job_control(first.id, "w2", url=url).owned
    assert not store.complete(first.id, "w2", url=url)  # not its job
    assert store.complete(first.id, "w1", {"answer": 42}, url=url)
    run = store.get_run(store.get_job(first.id, url=url).run_id, url=url)
    assert run["status"] == "succeeded" and run["summary"] == {"answer": 42}


def test_metrics_are_idempotent_per_run_key_step(url):
    job_id = store.submit_job("count", {"steps": 3}, url=url)
    run_id = store.get_job(job_id, url=url).run_id
    store.log_metrics(run_id, 1, {"loss": 1.0, "acc": 0.5}, url=url)
    store.log_metrics(run_id, 2, {"loss": 0.5}, url=url)
    store.log_metrics(run_id, 2, {"loss": 0.25}, url=url)  # a resumed job reporting step 2 again
    assert store.run_metrics(run_id, url=url) == {"acc": [(1, 0.5)], "loss": [(1, 1.0), (2, 0.25)]}
    assert store.run_metrics(run_id, ["acc"], url=url) == {"acc": [(1, 0.5)]}


def test_metric_points_of_several_steps_in_one_write_last_report_wins(url):
    run_id = store.get_job(store.submit_job("count", {}, url=url), url=url).run_id
    store.log_metric_points(run_id, [(1, {"loss": 1.0}), (2, {"loss": 0.5}), (1, {"loss": 0.9})], url=url)
    assert store.run_metrics(run_id, url=url) == {"loss": [(1, 0.9), (2, 0.5)]}
    many = [(step, {"a": float(step), "b": 1.0}) for step in range(700)]  # more rows than one statement
    store.log_metric_points(run_id, many + many[:10], url=url)  # a journal copied again, in part
    series = store.run_metrics(run_id, ["a"], url=url)["a"]
    assert series == [(step, float(step)) for step in range(700)]


def test_a_killed_attempt_is_retried_while_attempts_remain(url):
    job_id = store.submit_job("count", {}, max_attempts=2, url=url)
    store.claim_next_job("w1", 30, url=url)
    assert store.retry_or_fail(job_id, "w2", "killed", url=url) is None  # not its job
    assert store.retry_or_fail(job_id, "w1", "killed by SIGKILL", url=url) == "queued"
    job = store.get_job(job_id, url=url)
    assert (job.status, job.attempts, job.worker_id) == ("queued", 1, None)
    assert job.error == "attempt 1 of 2: killed by SIGKILL; queued again"
    store.claim_next_job("w2", 30, url=url)
    assert store.retry_or_fail(job_id, "w2", "killed by SIGKILL", url=url) == "failed"
    job = store.get_job(job_id, url=url)
    assert (job.status, job.error) == ("failed", "attempt 2 of 2: killed by SIGKILL")


def test_expired_lease_requeues_then_fails_after_max_attempts(url):
    job_id = store.submit_job("count", {}, max_attempts=2, url=url)
    for attempt in (1, 2):
        job = store.claim_next_job(f"w{attempt}", 0.2, url=url)
        assert job.id == job_id and job.attempts == attempt
        assert store.reap_expired_leases(url=url) == []  # lease still valid
        time.sleep(0.3)
        assert store.reap_expired_leases(url=url) == [job_id]
    job = store.get_job(job_id, url=url)
    assert job.status == "failed"
    assert "lease" in job.error and "attempt 2 of 2" in job.error
    assert not store.complete(job_id, "w2", url=url)  # the lost worker cannot resurrect it


def test_cancel_and_requeue_rules(url):
    queued = store.submit_job("noop", {}, url=url)
    assert store.request_cancel(queued, url=url) == "cancelled"
    running = store.submit_job("noop", {}, url=url)
    store.claim_next_job("w", 30, url=url)
    assert store.request_cancel(running, url=url) == "running"
    assert store.job_control(running, "w", url=url).cancel_requested
    assert store.heartbeat(running, "w", 30, url=url).cancel_requested
    assert store.cancel(running, "w", url=url)
    with pytest.raises(store.QueueError, match="only failed or cancelled"):
        store.requeue(store.submit_job("noop", {}, url=url), url=url)
    store.requeue(running, url=url)
    job = store.get_job(running, url=url)
    assert (job.status, job.attempts, job.cancel_requested, job.error) == ("queued", 0, False, None)
    with pytest.raises(store.QueueError, match="no job"):
        store.request_cancel(10_000, url=url)


def test_runs_evaluations_and_artifacts_read_back(url):
    parent = store.get_job(store.submit_job("count", {}, name="base", tags=["a"], url=url), url=url)
    child_job = store.submit_job("noop", {}, name="eval of base", parent_run_id=parent.run_id,
                                 tags=["b"], url=url)
    child_run = store.get_job(child_job, url=url).run_id
    store.add_evaluation(child_run, "apgd-ce", "Linf", 0.1, 3, 1.0, 1 / 3,
                         per_sample={"robust": [1, 0, 0]}, url=url)
    with pytest.raises(ValueError, match="robust_accuracy"):
        store.add_evaluation(child_run, "apgd-ce", "Linf", 0.1, 3, 1.0, 33.3, url=url)
    store.add_artifact(child_run, "log", "runs/2/job.log", "0" * 64, 10, url=url)
    store.add_artifact(child_run, "log", "runs/2/job.log", "1" * 64, 12, url=url)  # updated
    run = store.get_run(child_run, url=url)
    assert run["parent_run_id"] == parent.run_id
    assert [e["robust_accuracy"] for e in run["evaluations"]] == [pytest.approx(1 / 3)]
    assert [(a["sha256"][0], a["size_bytes"]) for a in run["artifacts"]] == [("1", 12)]
    assert [r["name"] for r in store.list_runs(tag="a", url=url)] == ["base"]
    assert [r["name"] for r in store.list_runs(parent_run_id=parent.run_id, url=url)] == ["eval of base"]
    assert store.get_run(10_000, url=url) is None


def test_concurrent_startup_migrates_once(url):
    """Four processes open a fresh database at the same moment; all succeed, schema at head."""
    code = "import sys; from db.session import get_engine; get_engine(sys.argv[1])"
    processes = [subprocess.Popen([sys.executable, "-c", code, url], cwd=REPO_ROOT,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [process.communicate(timeout=60)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, errors
    with get_engine(url).connect() as connection:
        versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    assert versions == [(head_revision(),)]


def test_schema_head_constant_matches_the_migration_scripts():
    assert SCHEMA_HEAD == head_revision()


def test_sqlite_pragmas(tmp_path):
    engine = get_engine(sqlite_url(tmp_path))
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    dispose_engines()


def _run_of(job_id, url):
    return store.get_job(job_id, url=url).run_id


def test_a_job_waits_for_every_dependency(url):
    source = store.submit_job("count", {}, name="source", url=url)
    score = store.submit_job("count", {}, name="score model", url=url)
    deps = [_run_of(source, url), _run_of(score, url)]
    child = store.submit_job("noop", {}, parent_run_id=deps[0], depends_on=deps, priority=10, url=url)
    assert [d["run_id"] for d in store.dependencies_of(child, url=url)] == sorted(deps)
    first, second = (store.claim_next_job(w, 30, url=url) for w in ("w1", "w2"))
    assert {first.id, second.id} == {source, score}  # the child outranks them but is not ready
    assert store.complete(source, first.worker_id if first.id == source else second.worker_id, url=url)
    assert store.claim_next_job("w3", 30, url=url) is None  # one input is still running
    assert store.complete(score, first.worker_id if first.id == score else second.worker_id, url=url)
    assert store.claim_next_job("w3", 30, url=url).id == child


def test_a_failed_dependency_fails_the_waiting_job_with_the_reason(url):
    source = store.submit_job("count", {}, url=url)
    other = store.submit_job("count", {}, url=url)
    child = store.submit_job("noop", {}, depends_on=[_run_of(source, url), _run_of(other, url)], url=url)
    independent = store.submit_job("noop", {}, url=url)
    claimed = store.claim_next_job("w1", 30, url=url)
    assert claimed.id == source
    assert store.fail_jobs_with_failed_dependencies(url=url) == []  # running is not failed
    assert store.fail(source, "w1", "diverged", url=url)
    assert store.fail_jobs_with_failed_dependencies(url=url) == [child]
    job = store.get_job(child, url=url)
    assert job.status == "failed" and f"#{_run_of(source, url)} failed" in job.error
    assert store.get_run(job.run_id, url=url)["status"] == "failed"
    assert store.get_job(independent, url=url).status == "queued"
    assert store.fail_jobs_with_failed_dependencies(url=url) == []  # idempotent


def test_depending_on_a_missing_run_is_refused(url):
    with pytest.raises(store.QueueError, match="no run with id 999"):
        store.submit_job("noop", {}, depends_on=[999], url=url)
    assert store.list_jobs(url=url) == []


def test_migration_keeps_the_parent_of_jobs_queued_before_dependencies_existed(tmp_path):
    from alembic import command

    from db.migrate import alembic_config

    url = sqlite_url(tmp_path)
    command.upgrade(alembic_config(url), "0001")
    engine = sa.create_engine(url)
    with engine.begin() as c:
        now = "2026-11-25 00:00:00"
        for run_id, parent in ((1, None), (2, 1)):
            c.execute(sa.text("INSERT INTO runs (id, kind, config, status, parent_run_id, tags, notes, created_at) "
                              "VALUES (:id, 'noop', '{}', 'queued', :parent, '[]', '', :now)"),
                      {"id": run_id, "parent": parent, "now": now})
            c.execute(sa.text("INSERT INTO jobs (id, run_id, kind, config, status, priority, attempts, max_attempts, "
                              "cancel_requested, progress_step, progress_total, progress_message, log_tail, created_at) "
                              "VALUES (:id, :id, 'noop', '{}', 'queued', 0, 0, 3, 0, 0, 0, '', '', :now)"),
                      {"id": run_id, "now": now})
    engine.dispose()
    get_engine(url)  # start-up migrates to head
    assert store.dependencies_of(2, url=url) == [store.DependencyRecord(run_id=1, status="queued")]
    assert store.dependencies_of(1, url=url) == []
    assert store.claim_next_job("w1", 30, url=url).id == 1
    assert store.claim_next_job("w1", 30, url=url) is None
    dispose_engines()
