"""The store facade: plain records out, one place for job and run state, evaluations written
with a job's success, and migration 0003 keeping the data it moves (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
import sqlalchemy as sa

from db import store
from tests.queue_support import sqlite_or_postgres_url  # noqa: F401 - fixture

EVALUATION = {"attack": "apgd-ce", "norm": "Linf", "eps": 8 / 255, "n": 10,
              "clean_accuracy": 0.9, "robust_accuracy": 0.4, "per_sample": {"robust": [1, 0]}}


def _is_record(value) -> bool:
    return dataclasses.is_dataclass(value) and type(value).__module__ == "db.entities"


def test_reads_return_plain_records(sqlite_or_postgres_url):
    url = sqlite_or_postgres_url
    job_id = store.submit_job("noop", {"a": 1}, name="r", tags=["t"], url=url)
    job = store.claim_next_job("w", 30, url=url)
    store.log_metrics(job.run_id, 1, {"loss": 0.5}, url=url)
    store.add_artifact(job.run_id, "log", "runs/1/job.log", "0" * 64, 3, url=url)
    assert store.complete(job_id, "w", {"done": True}, url=url)
    found = [store.claim_next_job("w", 30, url=url), store.get_job(job_id, url=url),
             *store.list_jobs(url=url), *store.list_runs(url=url), *store.list_runs(light=True, url=url),
             *store.runs_by_id([job.run_id], url=url), *store.finished_results("noop", url=url),
             store.get_run(job.run_id, url=url), *store.artifacts_of(job.run_id, url=url)]
    assert found[0] is None
    assert all(_is_record(value) for value in found[1:])
    detail = store.get_run(job.run_id, url=url)
    assert _is_record(detail.job) and all(_is_record(a) for a in detail.artifacts)
    assert pickle.loads(pickle.dumps(detail)) == detail  # no session or ORM state behind it
    assert detail["status"] == detail.status == "succeeded" and detail.get("summary") == {"done": True}
    assert detail.to_dict()["job"]["progress"] == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        detail.status = "failed"


def test_job_is_the_one_source_of_run_state(sqlite_or_postgres_url):
    url = sqlite_or_postgres_url
    job_id = store.submit_job("count", {"steps": 4}, url=url)

    def both():
        job = store.get_job(job_id, url=url)
        run = store.get_run(job.run_id, url=url)
        light = store.list_runs(light=True, url=url)[0]
        assert run.status == light.status == job.status
        assert (run.started_at, run.finished_at) == (job.started_at, job.finished_at)
        assert run.progress == light.progress == job.progress
        return job.status

    assert both() == "queued"
    store.claim_next_job("w", 30, url=url)
    store.set_progress(job_id, 1, 4, url=url)
    assert both() == "running" and store.get_job(job_id, url=url).progress == 0.25
    assert store.retry_or_fail(job_id, "w", "killed", url=url) == "queued" and both() == "queued"
    store.claim_next_job("w", 30, url=url)
    assert store.release(job_id, "w", url=url) and both() == "queued"
    store.claim_next_job("w", 30, url=url)
    assert store.fail(job_id, "w", "boom", url=url) and both() == "failed"
    store.requeue(job_id, url=url)
    assert both() == "queued"
    assert store.request_cancel(job_id, url=url) == "cancelled" and both() == "cancelled"
    assert store.status_counts(url=url) == {"cancelled": 1}
    with store.get_engine(url).connect() as connection:
        run_columns = {c["name"] for c in sa.inspect(connection).get_columns("runs")}
        job_columns = {c["name"] for c in sa.inspect(connection).get_columns("jobs")}
    assert not run_columns & {"status", "created_at", "started_at", "finished_at"}
    assert not job_columns & {"kind", "config"}


def test_a_run_recorded_without_the_queue_has_a_succeeded_job(sqlite_or_postgres_url):
    url = sqlite_or_postgres_url
    run_id = store.record_finished_run("import", {"path": "m.pt"}, {"ok": 1}, evaluations=[EVALUATION], url=url)
    run = store.get_run(run_id, url=url)
    assert (run.status, run.job.status, run.progress) == ("succeeded", "succeeded", 1.0)
    assert run.started_at and run.finished_at
    assert [(e.attack, e.robust_accuracy) for e in run.evaluations] == [("apgd-ce", 0.4)]
    assert store.list_jobs(status="queued", url=url) == []  # never claimed
    assert store.claim_next_job("w", 30, url=url) is None


def test_evaluations_are_written_with_complete(sqlite_or_postgres_url):
    url = sqlite_or_postgres_url
    job_id = store.submit_job("evaluate", {}, url=url)
    job = store.claim_next_job("w", 30, url=url)
    assert not store.complete(job_id, "other", {}, evaluations=[EVALUATION], url=url)
    assert store.list_evaluations(url=url) == []  # not the owner: nothing written
    with pytest.raises(ValueError):  # a bad row fails the whole transaction, success included
        store.complete(job_id, "w", {}, evaluations=[EVALUATION, {**EVALUATION, "robust_accuracy": 40}], url=url)
    assert store.get_job(job_id, url=url).status == "running" and store.list_evaluations(url=url) == []
    assert store.complete(job_id, "w", {"n": 2}, evaluations=[EVALUATION, {**EVALUATION, "eps": 4 / 255}], url=url)
    rows = store.list_evaluations([job.run_id], url=url)
    assert [row.eps for row in rows] == [8 / 255, 4 / 255]
    assert rows[0].per_sample == {"robust": [1, 0]}
    assert store.list_evaluations(with_per_sample=False, url=url)[0].per_sample is None


def test_merged_reads_serve_both_old_uses(sqlite_or_postgres_url):
    url = sqlite_or_postgres_url
    job_id = store.submit_job("noop", {}, url=url)
    run_id = store.get_job(job_id, url=url).run_id
    store.log_metric_points(run_id, [(step, {"loss": float(step), "lr": 0.1}) for step in range(10)], url=url)
    assert store.run_metrics(run_id, url=url) == store.metric_series([run_id], max_points=0, url=url)[run_id]
    assert len(store.metric_series([run_id], ["loss"], max_points=3, url=url)[run_id]["loss"]) <= 4
    assert store.metric_keys(run_id, url=url) == store.metric_keys([run_id], url=url) == ["loss", "lr"]
    light, full = store.list_runs(light=True, url=url)[0], store.list_runs(url=url)[0]
    assert (light.config, full.config) == (None, {})
    assert {k: v for k, v in light.items() if k not in ("config", "summary")} == \
           {k: v for k, v in full.items() if k not in ("config", "summary")}



def test_metric_series_thins_in_the_database_as_thin_does(sqlite_or_postgres_url):
    url = sqlite_or_postgres_url
    runs = [store.get_job(store.submit_job("noop", {}, url=url), url=url).run_id for _ in range(2)]
    lengths = {"loss": 10, "lr": 7, "once": 1}  # uneven steps, logged out of order
    for offset, run_id in enumerate(runs):
        for key, length in lengths.items():
            steps = [3 * step + offset for step in range(length)]
            store.log_metric_points(run_id, [(step, {key: step / 7}) for step in reversed(steps)], url=url)
    every = store.metric_series(runs, max_points=0, url=url)
    assert [len(every[runs[0]][key]) for key in lengths] == [10, 7, 1]
    for max_points in (1, 2, 3, 4, 6, 7, 9, 10, 50):
        assert store.metric_series(runs, max_points=max_points, url=url) == {
            run_id: {key: store.thin(points, max_points) for key, points in by_key.items()}
            for run_id, by_key in every.items()}, max_points
    assert store.metric_series(runs, ["lr"], max_points=3, url=url)[runs[1]] == {
        "lr": [(1, 1 / 7), (10, 10 / 7), (19, 19 / 7)]}

def _upgrade(url: str, revision: str) -> None:
    from alembic import command

    from db.migrate import alembic_config

    command.upgrade(alembic_config(url), revision)


def test_migration_0003_moves_run_state_onto_jobs(sqlite_or_postgres_url):
    url = sqlite_or_postgres_url
    _upgrade(url, "0002")
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text(
            "INSERT INTO runs (id, kind, name, config, status, tags, notes, summary, created_at, started_at, finished_at) "
            "VALUES (1, 'train', 'queued one', '{\"lr\": 0.1}', 'running', '[\"a\"]', 'n', NULL, "
            "'2026-11-01 00:00:00', '2026-11-01 01:00:00', NULL), "
            "(2, 'import', 'imported', '{}', 'succeeded', '[]', '', '{\"ok\": 1}', "
            "'2026-11-02 00:00:00', '2026-11-02 00:00:00', '2026-11-02 00:00:00')"))
        c.execute(sa.text(
            "INSERT INTO jobs (id, run_id, kind, config, status, priority, attempts, max_attempts, cancel_requested, "
            "progress_step, progress_total, progress_message, log_tail, created_at, started_at) "
            "VALUES (7, 1, 'train', '{\"lr\": 0.1}', 'running', 0, 1, 3, false, 3, 4, 'epoch', '', "
            "'2026-11-01 00:00:00', '2026-11-01 01:00:00')"))
        c.execute(sa.text("INSERT INTO metrics (run_id, key, step, value, time) "
                          "VALUES (1, 'loss', 1, 0.5, '2026-11-01 00:00:00')"))
        c.execute(sa.text("INSERT INTO evaluations (run_id, attack, norm, eps, n, created_at) "
                          "VALUES (2, 'pgd', 'Linf', 0.03, 5, '2026-11-02 00:00:00')"))
    engine.dispose()
    store.get_engine(url)  # start-up migrates to head
    queued, imported = store.get_run(1, url=url), store.get_run(2, url=url)
    assert (queued.status, queued.job_id, queued.progress, queued.config, queued.tags, queued.notes) == \
           ("running", 7, 0.75, {"lr": 0.1}, ["a"], "n")
    assert queued.started_at == "2026-11-01T01:00:00Z" and queued.job.kind == "train"
    assert (imported.status, imported.summary, imported.finished_at) == ("succeeded", {"ok": 1}, "2026-11-02T00:00:00Z")
    assert imported.job is not None and imported.progress == 1.0
    assert store.run_metrics(1, url=url) == {"loss": [(1, 0.5)]}
    assert [e.attack for e in imported.evaluations] == ["pgd"]
