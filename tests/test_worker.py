"""The worker with real processes and real databases: drain, kill/resume, cancel, failures.

Workers run as `python -m app.cli worker` subprocesses with short leases and poll intervals,
exactly as a user starts them; each job runs in its own spawned child process.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.jobs import count as count_job
from db import store
from db.session import dispose_engines, get_engine
from taser_engine.callbacks import Callbacks
from tests.queue_support import (
    cli_env, postgres_schema_url, sqlite_url, start_worker, taser, wait_for,
)

FAST = ("--poll-interval", "0.05")


@pytest.fixture
def sqlite_db(tmp_path):
    url = sqlite_url(tmp_path)
    yield url, cli_env(url, tmp_path / "artifacts")
    dispose_engines()


def _drain(url: str, env: dict, tmp_path: Path, jobs: int, workers: int = 4) -> None:
    ids = [store.submit_job("noop", {"tag": f"job-{i}"}, url=url) for i in range(jobs)]
    procs = [start_worker(env, "--once", *FAST, "--lease", "30", log=tmp_path / f"worker{n}.log")
             for n in range(workers)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, (tmp_path / "worker0.log").read_text()
    finished = {job.id: job for job in store.list_jobs(limit=jobs + 10, url=url)}
    assert sorted(finished) == sorted(ids)
    assert collections.Counter(job.status for job in finished.values()) == {"succeeded": jobs}
    assert {job.attempts for job in finished.values()} == {1}  # claimed exactly once
    assert len({job.worker_id for job in finished.values()}) >= 2  # the work was shared
    artifact_root = Path(env["TASER_ARTIFACT_ROOT"])
    for job in finished.values():  # the child ran exactly once: one attempt header in its log
        log = (artifact_root / "runs" / str(job.run_id) / "job.log").read_text()
        assert log.count(f"--- job {job.id} (noop) attempt") == 1
        summary = store.get_run(job.run_id, url=url)["summary"]
        assert summary == {"tag": job.config["tag"]}


# Every job is a spawned Python process (~0.15 s of CPU each), so the full 200-job drains are
# marked slow; the default suite drains 20 jobs per database with the same checks (4 workers, so
# the work is still shared and claims still race).
DRAIN_SIZES = [20, pytest.param(200, marks=pytest.mark.slow)]


@pytest.mark.parametrize("jobs", DRAIN_SIZES)
def test_four_workers_drain_jobs_exactly_once_sqlite(sqlite_db, tmp_path, jobs):
    url, env = sqlite_db
    _drain(url, env, tmp_path, jobs=jobs)


@pytest.mark.postgres
@pytest.mark.parametrize("jobs", DRAIN_SIZES)
def test_four_workers_drain_jobs_exactly_once_postgres(tmp_path, jobs):
    url, drop = postgres_schema_url()
    try:
        _drain(url, cli_env(url, tmp_path / "artifacts"), tmp_path, jobs=jobs)
    finally:
        drop()


class _Recorder(Callbacks):
    """An in-process ctx: the uninterrupted reference run of the same job kind."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir, self.resume_checkpoint, self.metrics = run_dir, None, {}

    def on_metrics(self, step, metrics):
        for key, value in metrics.items():
            self.metrics.setdefault(key, []).append((step, value))


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in state


@pytest.mark.slow  # ~14 s; a SIGKILLed job process resuming from its checkpoint stays in the default suite (test_worker_outages)
def test_sigkilled_worker_job_resumes_elsewhere_with_identical_metrics(sqlite_db, tmp_path):
    url, env = sqlite_db
    config = {"steps": 30, "step_s": 0.1}
    reference = _Recorder(tmp_path / "reference")
    reference.run_dir.mkdir()
    uninterrupted = threading.Thread(
        target=lambda: count_job.run(count_job.Config(**config), reference))
    uninterrupted.start()

    job_id = store.submit_job("count", config, url=url)
    first = start_worker(env, *FAST, "--lease", "1.5", log=tmp_path / "first.log")
    wait_for(lambda: store.get_job(job_id, url=url).progress_step >= 10, 60, "10 steps")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = store.get_job(job_id, url=url)
    assert killed_at.status == "running" and killed_at.progress_step < 30
    run_dir = Path(env["TASER_ARTIFACT_ROOT"]) / "runs" / str(killed_at.run_id)
    child_pid = int((run_dir / "job.log").read_text().split("pid ")[1].split()[0])
    wait_for(lambda: not _pid_alive(child_pid), 10, "the orphaned job process to die")

    second = start_worker(env, *FAST, "--lease", "1.5", "--max-jobs", "1", log=tmp_path / "second.log")
    assert second.wait(timeout=120) == 0
    uninterrupted.join()

    job = store.get_job(job_id, url=url)
    assert (job.status, job.attempts) == ("succeeded", 2), job.error
    log = (run_dir / "job.log").read_text()
    resumed_from = int(log.split("resuming from step ")[1].split()[0])
    assert resumed_from >= killed_at.progress_step  # from the last checkpoint, not from scratch
    job_metrics = {key: points for key, points in store.run_metrics(job.run_id, url=url).items()
                   if not key.startswith("system/")}  # the worker's samples of the job's processes
    assert job_metrics == reference.metrics
    with get_engine(url).connect() as connection:
        rows = connection.execute(sa.text("SELECT count(*) FROM metrics WHERE run_id = :run_id "
                                          "AND key NOT LIKE 'system/%'"), {"run_id": job.run_id}).scalar()
    assert rows == 3 * 30  # three keys, thirty steps, no duplicates


def test_cancel_kill_and_failure_reasons(sqlite_db, tmp_path):
    """One worker, several jobs: cooperative cancel, forced cancel, killed child, NaN, bad config."""
    url, env = sqlite_db
    worker = start_worker(env, *FAST, "--lease", "5", "--grace", "1", log=tmp_path / "worker.log")
    try:
        def running(job_id):
            return wait_for(lambda: (job := store.get_job(job_id, url=url)).status == "running"
                            and job.progress_step >= 2 and job, 60, f"job {job_id} to run")

        def final_status(job_id, timeout_s=15):
            return wait_for(lambda: (job := store.get_job(job_id, url=url)).status
                            in ("succeeded", "failed", "cancelled") and job, timeout_s,
                            f"job {job_id} to finish")

        cooperative = store.submit_job("count", {"steps": 200, "step_s": 0.05}, url=url)
        running(cooperative)
        assert "cancel requested" in taser(["jobs", "cancel", str(cooperative)], env).stdout
        cancelled = final_status(cooperative)
        assert cancelled.status == "cancelled" and cancelled.progress_step < 200
        assert "stopping at step" in cancelled.log_tail  # it stopped itself, cleanly

        stubborn = store.submit_job("count", {"steps": 500, "step_s": 0.05, "cooperative": False}, url=url)
        running(stubborn)
        store.request_cancel(stubborn, url=url)
        job = final_status(stubborn)
        assert job.status == "cancelled" and "stopping at step" not in job.log_tail  # terminated

        doomed = store.submit_job("count", {"steps": 500, "step_s": 0.05}, max_attempts=1, url=url)
        run_dir = Path(env["TASER_ARTIFACT_ROOT"]) / "runs" / str(running(doomed).run_id)
        os.kill(int((run_dir / "job.log").read_text().split("pid ")[1].split()[0]), signal.SIGKILL)
        job = final_status(doomed)
        assert job.status == "failed" and "SIGKILL" in job.error and "out of memory" in job.error

        nan = store.submit_job("count", {"steps": 5, "step_s": 0.0, "fail_at_step": 3}, url=url)
        job = final_status(nan)
        assert job.status == "failed" and job.error.startswith("NaN loss")
        assert "FloatingPointError" in job.log_tail  # the traceback is in the log

        bad = store.submit_job("count", {"steps": "many"}, url=url)  # bypasses CLI validation
        job = final_status(bad)
        assert job.status == "failed" and job.error.startswith("bad config") and "steps" in job.error
        artifacts = store.get_run(job.run_id, url=url)["artifacts"]
        assert [artifact["kind"] for artifact in artifacts] == ["log"]

        store.requeue(cooperative, url=url)  # picks up where the cancel left it
        job = final_status(cooperative, timeout_s=90)
        assert job.status == "succeeded"
        resumed_from = int(job.log_tail.split("resuming from step ")[1].split()[0])
        assert resumed_from >= cancelled.progress_step
        series = store.run_metrics(job.run_id, url=url)
        assert [step for step, _ in series["loss"]] == list(range(1, 201))
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)


def test_cli_submit_jobs_cancel_requeue(sqlite_db, tmp_path):
    url, env = sqlite_db
    config_file = tmp_path / "count.json"
    config_file.write_text('{"steps": 4, "step_s": 0.0}')
    job_id = int(taser(["submit", "count", "--config", str(config_file), "--name", "cli"], env).stdout)
    default_id = int(taser(["submit", "noop"], env).stdout)

    listed = json.loads(taser(["jobs", "--json"], env).stdout)
    assert [(job["id"], job["kind"], job["status"], job["progress"]) for job in listed] == [
        (default_id, "noop", "queued", 0.0), (job_id, "count", "queued", 0.0)]

    assert "cancelled" in taser(["jobs", "cancel", str(job_id)], env).stdout
    assert "queued again" in taser(["jobs", "requeue", str(job_id)], env).stdout
    taser(["worker", "--once", *FAST], env)
    shown = json.loads(taser(["jobs", "show", str(job_id), "--json"], env).stdout)
    assert (shown["status"], shown["progress"], shown["config"]["steps"]) == ("succeeded", 1.0, 4)
    job_keys = [key for key in shown["run"]["metric_keys"] if not key.startswith("system/")]  # the worker's own
    assert job_keys == ["loss", "running_sum", "x"]

    refused = taser(["jobs", "requeue", str(job_id)], env, check=False)
    assert refused.returncode == 2 and "only failed or cancelled" in refused.stderr
    bad_file = tmp_path / "bad.json"
    bad_file.write_text('{"steps": 0, "typo": 1}')
    bad = taser(["submit", "count", "--config", str(bad_file)], env, check=False)
    assert bad.returncode == 2 and "'steps'" in bad.stderr and "'typo'" in bad.stderr
    assert "Traceback" not in bad.stderr
    unknown = taser(["submit", "nope"], env, check=False)
    assert unknown.returncode == 2 and "known kinds" in unknown.stderr


def test_stopping_a_worker_gives_its_job_back(sqlite_db, tmp_path):
    """SIGINT (Ctrl-C) to a worker: the job stops at a step boundary and returns to the queue."""
    url, env = sqlite_db
    job_id = store.submit_job("count", {"steps": 500, "step_s": 0.05}, url=url)
    worker = start_worker(env, *FAST, "--lease", "5", log=tmp_path / "worker.log")
    wait_for(lambda: store.get_job(job_id, url=url).progress_step >= 2, 60, "the job to run")
    worker.send_signal(signal.SIGINT)
    assert worker.wait(timeout=30) == 0
    job = store.get_job(job_id, url=url)
    assert (job.status, job.attempts, job.error) == ("queued", 0, None)
    assert job.checkpoint_path and job.progress_step < 500

