"""Run lifecycle in the store: archiving hides a run from every list and result read, restoring
shows it again; the runs table's headline numbers come from one read (issue 18, gap 2)."""

from __future__ import annotations

import pytest

from db import store
from tests.queue_support import sqlite_or_postgres_url  # noqa: F401 - fixture


@pytest.fixture
def url(sqlite_or_postgres_url):
    return sqlite_or_postgres_url


def attack_rows(clean: float, autoattack: float, spsa: float, n: int = 100) -> list[dict]:
    return [{"attack": attack, "norm": "Linf", "eps": 8 / 255, "n": n, "clean_accuracy": clean,
             "robust_accuracy": robust} for attack, robust in (("autoattack", autoattack), ("spsa", spsa))]


def training(url: str, name: str = "train", **summary) -> int:
    return store.record_finished_run("train", {"method": "standard"}, summary, name=name, url=url)


def evaluation(url: str, model_run: int, clean: float, autoattack: float, spsa: float) -> int:
    return store.record_finished_run("evaluate", {"model_run": model_run}, {"clean_acc": clean}, name="eval",
                                     evaluations=attack_rows(clean, autoattack, spsa), url=url)


def test_an_archived_run_leaves_lists_and_results_and_comes_back_on_restore(url):
    kept, junk = evaluation(url, 1, 0.9, 0.4, 0.5), evaluation(url, 1, 0.1, 0.0, 0.0)
    assert store.archive_run(junk, url=url)
    assert [run["id"] for run in store.list_runs(url=url)] == [kept]
    assert [run["id"] for run in store.list_runs(light=True, url=url)] == [kept]
    assert [run["id"] for run in store.finished_results("evaluate", url=url)] == [kept]
    shown = store.list_runs(include_archived=True, url=url)
    assert [(run["id"], run["archived_at"] is not None) for run in shown] == [(junk, True), (kept, False)]
    assert store.get_run(junk, url=url)["archived_at"] is not None  # its own page still opens
    assert store.status_counts(url=url) == {"succeeded": 1}  # Home's counts
    assert store.status_counts(include_archived=True, url=url) == {"succeeded": 2}
    assert store.restore_run(junk, url=url)
    assert [run["id"] for run in store.finished_results("evaluate", url=url)] == [junk, kept]
    assert store.get_run(junk, url=url)["archived_at"] is None
    assert not store.archive_run(9999, url=url) and not store.restore_run(9999, url=url)


def test_headlines_of_a_training_come_from_its_newest_unarchived_evaluation(url):
    model = training(url, clean_acc=0.8, ms_per_sample=3.0, ms_per_sample_without_penalty=2.0,
                     penalty_ms_per_sample=1.0)
    other = training(url, name="never evaluated", clean_acc=0.7)
    first = evaluation(url, model, 0.9, 0.4, 0.5)
    newest = evaluation(url, model, 0.9, 0.3, 0.2)
    unrelated = evaluation(url, other + 100, 0.5, 0.5, 0.5)
    assert [run["id"] for run in store.list_runs(kind="evaluate", model_run=model, url=url)] == [newest, first]
    headlines = store.headline_results([model, other, newest, unrelated], url=url)
    assert headlines[model].evaluation_run_id == newest
    assert {row.attack: row.robust_accuracy for row in headlines[model].evaluations} == {"autoattack": 0.3,
                                                                                        "spsa": 0.2}
    assert all(row.per_sample is None for row in headlines[model].evaluations)
    assert headlines[model].ms_per_sample == 3.0 and headlines[model].ms_per_sample_without_penalty == 2.0
    assert headlines[newest].evaluation_run_id == newest
    assert headlines[newest].ms_per_sample == 3.0 and headlines[newest].train_clean_acc is None  # its model's times
    assert headlines[other].evaluation_run_id is None and headlines[other].train_clean_acc == 0.7
    assert headlines[unrelated].evaluation_run_id == unrelated and headlines[unrelated].ms_per_sample is None
    store.archive_run(newest, url=url)
    headlines = store.headline_results([model, newest], url=url)
    assert headlines[model].evaluation_run_id == first
    assert headlines[newest].evaluation_run_id == newest  # shown with the archived: its own numbers
    assert store.headline_results([], url=url) == {}


def test_only_an_archived_finished_run_is_deleted_with_its_rows(url):
    from app.jobs import normalized_config

    model = training(url, clean_acc=0.8)
    junk = evaluation(url, model, 0.1, 0.0, 0.0)
    store.log_metrics(junk, 1, {"loss": 1.0}, url=url)
    with pytest.raises(ValueError, match="not archived"):
        store.delete_run(junk, url=url)
    store.archive_run(junk, url=url)
    assert store.delete_run(junk, url=url)
    assert store.get_run(junk, url=url) is None and store.list_evaluations([junk], url=url) == []
    assert store.metric_series([junk], url=url) == {}
    assert store.get_run(model, url=url) is not None and not store.delete_run(junk, url=url)
    queued = store.get_job(store.submit_job("count", normalized_config("count", {"steps": 3}), url=url),
                           url=url).run_id
    store.archive_run(queued, url=url)
    with pytest.raises(ValueError, match="queued"):
        store.delete_run(queued, url=url)


def test_migration_0005_keeps_existing_runs_unarchived(url):
    import sqlalchemy as sa
    from alembic import command

    from db.migrate import alembic_config

    command.upgrade(alembic_config(url), "0004")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO runs (id, kind, name, config, tags, notes) "
                                   "VALUES (1, 'train', 'old', '{}', '[]', '')"))
        connection.execute(sa.text(
            "INSERT INTO jobs (id, run_id, status, priority, attempts, max_attempts, cancel_requested, progress_step, "
            "progress_total, progress_message, log_tail, created_at) "
            "VALUES (1, 1, 'succeeded', 0, 1, 3, false, 0, 0, '', '', '2026-11-01 00:00:00')"))
    engine.dispose()
    command.upgrade(alembic_config(url), "head")
    assert [(run["name"], run["archived_at"]) for run in store.list_runs(url=url)] == [("old", None)]
    assert store.archive_run(1, url=url) and store.list_runs(url=url) == []


def test_taser_runs_archives_restores_and_deletes_with_the_runs_files(tmp_path, monkeypatch):
    from app.cli import main
    from app.paths import run_dir_for

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TASER_DATABASE_URL", url)
    monkeypatch.setenv("TASER_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    first, second = training(url, "a"), training(url, "b")
    folder = run_dir_for(first, (tmp_path / "artifacts").resolve())
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")

    assert main(["runs", "delete", str(first)]) == 2  # not archived: refused, nothing removed
    assert folder.exists() and store.get_run(first, url=url) is not None
    assert main(["runs", "archive", str(first), str(second)]) == 0
    assert store.list_runs(url=url) == []
    assert main(["runs", "restore", str(second)]) == 0
    assert [run["id"] for run in store.list_runs(url=url)] == [second]
    assert main(["runs", "delete", str(first), "9999"]) == 2  # the first is deleted, #9999 named
    assert store.get_run(first, url=url) is None and not folder.exists()
