"""Workers that survive the database, the disk and their own jobs' deaths.

- the database goes away (PostgreSQL refusing connections, its sessions terminated) while a
  `train` job runs: the job runs on, the worker stays, no metric point is lost or doubled;
- it stays away longer than `--db-outage-s`: the worker stops the job and exits, saying so,
  and the next worker resumes the job;
- it is not there yet at start-up: the worker waits, saying so; `taser jobs` says it in a line;
- the artifact root cannot be written: that job fails with the reason, the worker goes on;
- a job's process is SIGKILLed (what the out-of-memory killer does): the attempt counts and
  the job is retried, resuming from its checkpoint.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.dblink import DatabaseLink
from app.jobs import count as count_job
from app.jobs import validate_config
from db import store
from db.session import DatabaseUnavailableError, dispose_engines, get_engine
from taser_engine.callbacks import Callbacks
from tests.queue_support import (UNREACHABLE_URL, PostgresDatabase, cli_env, sqlite_url, start_worker,
                                 taser, wait_for)

FAST = ("--poll-interval", "0.05")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _refused(*_args, **_kwargs):
    raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))


def test_link_retries_with_backoff_and_gives_up_after_the_limit():
    clock, said = _Clock(), []
    link = DatabaseLink(10.0, UNREACHABLE_URL, name="w", log=said.append, clock=clock)
    assert link.attempt(lambda: 1) == (True, 1)
    assert link.attempt(_refused) == (False, None)
    assert link.is_down and said == ["w: database at 127.0.0.1:1/taser_nowhere unavailable; "
                                     "retrying for up to 10 s (connection refused)"]
    calls = []
    assert link.attempt(calls.append, "not due yet") == (False, None) and calls == []
    clock.now = 0.5
    assert link.attempt(_refused) == (False, None)
    assert link.retry_due_in() == pytest.approx(1.0)  # the pause doubles
    clock.now = 1.5
    assert link.attempt(lambda: "back") == (True, "back") and not link.is_down
    assert said[-1] == "w: database at 127.0.0.1:1/taser_nowhere is back after 1.5 s"
    with pytest.raises(ValueError):  # a bug is not an outage
        link.attempt(lambda: int("x"))
    assert not link.is_down


def test_link_call_waits_then_raises_once_the_outage_is_too_long():
    link = DatabaseLink(0.6, UNREACHABLE_URL, name="w", log=lambda _: None)
    tries = []

    def flaky():
        tries.append(time.monotonic())
        if len(tries) < 2:
            _refused()
        return "ok"

    assert link.call(flaky) == "ok" and len(tries) == 2
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError, match=r"unreachable for \d+ s, longer than the 0.6 s"):
        link.call(_refused)
    assert 0.6 < time.monotonic() - started < 1.5
    stop = threading.Event()
    stop.set()
    with pytest.raises(DatabaseUnavailableError):  # a worker told to stop does not sit it out
        DatabaseLink(60, UNREACHABLE_URL, log=lambda _: None).call(_refused, stop=stop)


def test_the_metric_journal_survives_a_writer_killed_mid_line(tmp_path):
    from app.jsonlines import JsonLinesTail, JsonLinesWriter

    path = tmp_path / "metrics.jsonl"
    first = JsonLinesWriter(path)
    first.append({"step": 1})
    with open(path, "ab") as handle:
        handle.write(b'{"step": 2, "met')  # killed mid-write
    tail = JsonLinesTail(path)
    assert tail.has_more()
    records, end = tail.peek()
    assert records == [{"step": 1}] and not JsonLinesTail(path, end).has_more()  # half a line waits
    JsonLinesWriter(path).append({"step": 2})  # the next attempt ends the fragment first
    assert tail.peek()[0] == [{"step": 1}, {"step": 2}]  # the fragment skipped; nothing consumed
    tail.advance(end)
    assert tail.read() == [{"step": 2}] and tail.read() == [] and not tail.has_more()
    assert JsonLinesTail(path).peek(max_records=1)[0] == [{"step": 1}]


@pytest.mark.slow  # ~14 s; the start-up wait for a database that appears stays in the default suite
def test_a_database_that_is_not_there_is_one_line_and_exit_code_3(tmp_path):
    env = cli_env(UNREACHABLE_URL, tmp_path / "artifacts")
    listed = taser(["jobs"], env, check=False)
    assert listed.returncode == 3 and "Traceback" not in listed.stderr
    assert listed.stderr.count("\n") == 1 and "the database at 127.0.0.1:1/taser_nowhere is unavailable" \
        in listed.stderr
    worker = taser(["worker", "--once", "--db-outage-s", "1"], env, check=False)
    assert worker.returncode == 3 and "Traceback" not in worker.stderr + worker.stdout
    assert "waiting for the database at 127.0.0.1:1/taser_nowhere…" in worker.stdout
    assert "unreachable for" in worker.stderr and "--db-outage-s" in worker.stderr


@pytest.mark.postgres
def test_worker_waits_for_the_database_at_start_up(tmp_path):
    database = PostgresDatabase(create=False)
    try:
        env = cli_env(database.url, tmp_path / "artifacts")
        log = tmp_path / "worker.log"
        worker = start_worker(env, *FAST, "--max-jobs", "1", log=log)
        wait_for(lambda: "waiting for the database at" in log.read_text(), 60, "the waiting line")
        database.create()  # the database comes up after the worker
        job_id = store.submit_job("noop", {}, url=database.url)
        assert worker.wait(timeout=120) == 0, log.read_text()
        assert store.get_job(job_id, url=database.url).status == "succeeded"
        assert f"127.0.0.1:5432/{database.name}" in log.read_text() and "is back after" in log.read_text()
    finally:
        database.drop()


def _metric_rows(url: str, run_id: int) -> int:
    """The job's own metric rows (not the worker's system/ samples)."""
    with get_engine(url).connect() as connection:
        return connection.execute(sa.text("SELECT count(*) FROM metrics WHERE run_id = :run_id "
                                          "AND key NOT LIKE 'system/%'"), {"run_id": run_id}).scalar()


def _reference_train_metrics(config: dict, run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """The series an uninterrupted in-process run of the same `train` config reports, keyed as
    the worker stores them (epoch summaries under `epoch/`)."""
    from taser_engine.callbacks import RecordingCallbacks
    from taser_engine.training import train

    recorded = RecordingCallbacks()
    train(validate_config("train", config), recorded, run_dir)
    series: dict[str, list[tuple[int, float]]] = {}
    for step, scope, metrics in recorded.metrics:
        for key, value in metrics.items():
            name = key if scope == "step" else f"{scope}/{key}"
            series.setdefault(name, []).append((step, value))
    return {key: sorted(points) for key, points in sorted(series.items())}


@pytest.mark.postgres
def test_a_database_outage_during_a_train_job_loses_nothing(tmp_path):
    database = PostgresDatabase()
    try:
        url = database.url
        config = validate_config("train", {
            "dataset": "digits", "method": "standard", "taser": False, "epochs": 60, "batch_size": 32,
            "max_train_samples": 64, "max_test_samples": 32, "width": 4, "device": "cpu",
            "log_every_steps": 1, "cpu_threads": 1}).model_dump(mode="json")
        job_id = store.submit_job("train", config, url=url)
        log = tmp_path / "worker.log"
        worker = start_worker(cli_env(url, tmp_path / "artifacts"), *FAST, "--lease", "30",
                              "--max-jobs", "1", log=log)
        running = wait_for(lambda: (job := store.get_job(job_id, url=url)).progress_step >= 4 and job, 120,
                           "the job to train")
        journal = tmp_path / "artifacts" / "runs" / str(running.run_id) / "metrics.jsonl"
        database.block()
        dispose_engines()  # this test's own connections went with it
        reported_before = len(journal.read_text().splitlines())
        outage_ends = time.monotonic() + 6
        reference = _reference_train_metrics(config, tmp_path / "reference")  # meanwhile
        time.sleep(max(0.0, outage_ends - time.monotonic()))
        assert worker.poll() is None, log.read_text()  # the worker waits it out ...
        assert len(journal.read_text().splitlines()) > reported_before  # ... and its job trains on
        database.allow()
        assert worker.wait(timeout=180) == 0, log.read_text()

        job = store.get_job(job_id, url=url)
        assert (job.status, job.attempts) == ("succeeded", 1), job.error
        assert "unavailable; retrying for up to 300 s" in log.read_text()
        assert "is back after" in log.read_text() and "Traceback" not in log.read_text()
        stored = store.run_metrics(job.run_id, url=url)
        assert any(key.startswith("system/") for key in stored)  # sampled through the outage too
        stored = {key: points for key, points in stored.items() if not key.startswith("system/")}
        assert stored == reference  # every point, each once, the values of an uninterrupted run
        assert _metric_rows(url, job.run_id) == sum(len(points) for points in reference.values())
    finally:
        database.drop()


@pytest.mark.postgres
@pytest.mark.slow  # ~22 s; the outage within the limit and the start-up wait stay in the default suite
def test_an_outage_longer_than_the_limit_stops_the_job_and_the_worker(tmp_path):
    database = PostgresDatabase()
    try:
        url = database.url
        env = cli_env(url, tmp_path / "artifacts")
        config = {"steps": 60, "step_s": 0.1}
        job_id = store.submit_job("count", config, url=url)
        log = tmp_path / "first.log"
        first = start_worker(env, *FAST, "--lease", "3", "--grace", "5", "--db-outage-s", "2", log=log)
        wait_for(lambda: store.get_job(job_id, url=url).progress_step >= 5, 60, "the job to count")
        database.block()
        dispose_engines()
        assert first.wait(timeout=60) == 3, log.read_text()
        text = log.read_text()
        assert "longer than the 2 s this worker waits (--db-outage-s)" in text and "Traceback" not in text
        assert f"stopped job {job_id} at its last checkpoint" in text
        database.allow()

        second = start_worker(env, *FAST, "--lease", "3", "--max-jobs", "1", log=tmp_path / "second.log")
        assert second.wait(timeout=120) == 0, (tmp_path / "second.log").read_text()
        job = store.get_job(job_id, url=url)
        assert job.status == "succeeded", job.error
        assert "resuming from step" in job.log_tail  # not from scratch
        reference = _Recorder(tmp_path / "reference")
        count_job.run(count_job.Config(**{**config, "step_s": 0.0}), reference)
        stored = store.run_metrics(job.run_id, url=url)
        assert {key: points for key, points in stored.items() if not key.startswith("system/")} == reference.metrics
        assert _metric_rows(url, job.run_id) == 3 * 60
    finally:
        database.drop()


class _Recorder(Callbacks):
    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir, self.resume_checkpoint, self.metrics = run_dir, None, {}

    def on_metrics(self, step, metrics, scope="step"):
        for key, value in metrics.items():
            self.metrics.setdefault(key, []).append((step, value))


@pytest.fixture
def sqlite_db(tmp_path):
    url = sqlite_url(tmp_path)
    yield url
    dispose_engines()


def test_an_unwritable_artifact_root_fails_the_job_and_the_worker_goes_on(sqlite_db, tmp_path):
    """Root can write anywhere, so the root is made a regular file: creating a run folder under
    it fails with a real OSError (ENOTDIR), as a read-only mount would (EROFS)."""
    url, root = sqlite_db, tmp_path / "artifacts"
    root.write_text("not a directory")
    first = store.submit_job("noop", {}, url=url)
    log = tmp_path / "worker.log"
    worker = start_worker(cli_env(url, root), *FAST, "--max-jobs", "2", log=log)
    job = wait_for(lambda: (job := store.get_job(first, url=url)).status == "failed" and job, 60, "the failure")
    assert job.error.startswith(f"artifact root not writable: {root} (Not a directory"), job.error
    assert job.attempts == 1 and worker.poll() is None  # no crash, no crash loop
    root.unlink()
    root.mkdir()  # the operator fixes the mount
    second = store.submit_job("noop", {"tag": "after"}, url=url)
    assert worker.wait(timeout=60) == 0, log.read_text()
    assert store.get_job(second, url=url).status == "succeeded"
    assert "Traceback" not in log.read_text()


def test_a_sigkilled_job_process_is_retried_from_its_checkpoint(sqlite_db, tmp_path):
    url = sqlite_db
    env = cli_env(url, tmp_path / "artifacts")
    job_id = store.submit_job("count", {"steps": 40, "step_s": 0.05}, url=url)
    worker = start_worker(env, *FAST, "--max-jobs", "2", log=tmp_path / "worker.log")  # two attempts
    running = wait_for(lambda: (job := store.get_job(job_id, url=url)).progress_step >= 5 and job, 60,
                       "the job to count")
    run_dir = Path(env["TASER_ARTIFACT_ROOT"]) / "runs" / str(running.run_id)
    pid = int((run_dir / "job.log").read_text().split("pid ")[1].split()[0])
    killed_at = store.get_job(job_id, url=url).progress_step
    os.kill(pid, signal.SIGKILL)  # what the kernel's out-of-memory killer does
    retried = wait_for(lambda: (job := store.get_job(job_id, url=url)).attempts == 2 and job, 60, "the retry")
    assert retried.error == ("attempt 1 of 3: job process was killed by SIGKILL (likely out of memory); "
                             "queued again")
    assert worker.wait(timeout=120) == 0
    job = store.get_job(job_id, url=url)
    assert (job.status, job.attempts, job.error) == ("succeeded", 2, None)
    assert int(job.log_tail.split("resuming from step ")[1].split()[0]) >= killed_at
    assert [step for step, _ in store.run_metrics(job.run_id, url=url)["loss"]] == list(range(1, 41))
