"""Studies end to end on a real database: queued exactly once (also when a worker dies mid-study
and when queueing is resumed), cancelled and retried as a whole, and answered as tables."""

from __future__ import annotations

import json
import signal

import pytest

from app.studies.spec import StudySpec, plan_study
from tests.queue_support import cli_env, sqlite_url, start_worker, taser, wait_for

TINY_TRAIN = {"epochs": 1, "batch_size": 128, "max_train_samples": 256}
# AutoAttack and SPSA at a fraction of their paper budgets: the tables need both attacks' points
TINY_EVALUATE = {"n_eval": 20, "apgd_n_iter": 3, "square_n_queries": 10, "spsa_nb_iter": 2, "spsa_nb_sample": 4,
                 "iteration_check": None}


def tiny_spec(**changes) -> StudySpec:
    return StudySpec(**{"name": "tiny", "methods": ["standard"], "seeds": [0, 1], "train": TINY_TRAIN,
                        "evaluate": TINY_EVALUATE, **changes})


@pytest.fixture
def db(tmp_path, monkeypatch):
    url = sqlite_url(tmp_path)
    env = cli_env(url, tmp_path / "artifacts")
    monkeypatch.setenv("TASER_DATABASE_URL", url)
    monkeypatch.setenv("TASER_ARTIFACT_ROOT", env["TASER_ARTIFACT_ROOT"])
    from db.session import dispose_engines

    dispose_engines()
    yield url, env
    dispose_engines()


def _runs_per_key(url: str, study_id: int) -> dict[str, int]:
    """Plan key -> how many runs carry it, counted in plain SQL (not through the code under test)."""
    import sqlalchemy as sa

    from db.session import get_engine

    with get_engine(url).connect() as connection:
        rows = connection.execute(sa.text("SELECT study_key, COUNT(*) FROM runs WHERE study_id = :s GROUP BY study_key"),
                                  {"s": study_id}).all()
    return dict(rows)


def test_queueing_is_resumable_and_exactly_once(db):
    from app.studies import service
    from db import store

    url, _ = db
    spec = tiny_spec()
    plan = plan_study(spec)
    study_id = store.create_study(spec.name, spec.model_dump(mode="json"), [j.model_dump(mode="json") for j in plan])
    assert service.queue_study(study_id) == len(plan) == 4 * 2  # 4 trainings, 4 evaluations
    assert service.queue_study(study_id) == 0  # a resume (or a second process) queues nothing twice
    assert set(_runs_per_key(url, study_id).values()) == {1}
    state = service.study_state(study_id)
    assert state.status == "running" and state.counts == {"queued": 8}
    evaluation = next(c for c in state.cells if c.role == "evaluate")
    train = next(c for c in state.cells if c.key == plan[0].key)
    from db import store

    evaluation_job = store.get_job(evaluation.job_id)
    assert evaluation_job.config["model_run"] == train.run_id  # refs resolved to the real run ids


def test_cancel_then_retry_the_whole_study(db):
    from app.studies import service
    from db import store

    study_id = service.start_study(tiny_spec(seeds=[0]))
    state = service.study_state(study_id)
    claimed = store.claim_next_job("w", 60)  # one job running, the rest queued
    assert service.cancel_study(study_id) == len(state.cells)
    assert store.get_job(claimed.id).cancel_requested
    assert store.cancel(claimed.id, "w")
    state = service.study_state(study_id)
    assert state.status == "cancelled" and state.counts == {"cancelled": len(state.cells)}
    assert service.queue_study(study_id) == 0  # a cancelled study is not resumed by accident
    assert service.retry_study(study_id) == (len(state.cells), 0)
    assert service.study_state(study_id).counts == {"queued": len(state.cells)}


@pytest.mark.slow  # 8 real jobs, ~2 min on an idle 2-core box (12 under load); queueing exactly once and
# cancel/retry stay in the default suite above, and the dashboard seed runs a real study
def test_a_study_survives_a_killed_worker_and_answers_with_tables(db, tmp_path):
    from app.studies import service
    from app.studies.tables import point_tables, study_json
    from db import store

    url, env = db
    study_id = service.start_study(tiny_spec())
    first = start_worker(env, "--poll-interval", "0.05", "--lease", "2", log=tmp_path / "first.log")
    wait_for(lambda: service.study_state(study_id, with_summaries=False).counts.get("succeeded", 0) >= 1
             and service.study_state(study_id, with_summaries=False).counts.get("running"), 120, "a job mid-study")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    second = start_worker(env, "--poll-interval", "0.05", "--lease", "2", "--once", log=tmp_path / "second.log")
    assert second.wait(timeout=1800) == 0, (tmp_path / "second.log").read_text()[-2000:]

    state = service.study_state(study_id)
    assert state.status == "succeeded", [(c.key, c.status, c.error) for c in state.cells]
    assert set(_runs_per_key(url, study_id).values()) == {1} and len(_runs_per_key(url, study_id)) == 8
    assert any(store.get_job(c.job_id).attempts == 2 for c in state.cells)  # the killed one, run again

    (table,) = point_tables(state)
    row = table.table.rows[0]
    assert row["method"] == "standard" and row["seeds"] == 2
    assert row["robust_avg_without_sd"] is not None and "two-level" in table.table.note
    answer = study_json(state)
    assert {(c["taser"], c["seed"]) for c in answer["cells"]} == {(False, 0), (False, 1), (True, 0), (True, 1)}
    assert all(0 <= c["clean"] <= 1 and c["autoattack"] is not None and c["spsa"] is not None for c in answer["cells"])
    assert answer["wall_s"] > 0 and answer["tables"]["table2"][0]["table"]["rows"][0]["robust_avg_delta"]

    shown = taser(["study", "show", str(study_id), "--json", str(tmp_path / "s.json")], env)
    assert "succeeded" in shown.stdout and json.loads((tmp_path / "s.json").read_text())["study"]["id"] == study_id
    markdown = taser(["study", "table", str(study_id)], env).stdout
    assert "| Vanilla |" in markdown and " ± " in markdown
    listed = taser(["study", "list"], env).stdout
    assert "tiny" in listed and "succeeded" in listed


def test_study_cli_refuses_bad_input_in_one_line(db):
    _, env = db
    for args, message in ((["study", "run", "--preset", "table2-digits", "--set", "epochs=0", "--dry-run"], "epochs"),
                          (["study", "run", "--preset", "table2-digits", "--set", "no_such_field=1"], "no_such_field"),
                          (["study", "run", "--preset", "table2-digits", "--set", "epochs"], "FIELD=V1"),
                          (["study", "show", "999"], "no study with id 999")):
        result = taser(args, env, check=False)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    planned = taser(["study", "run", "--preset", "lambda-sweep-digits", "--seeds", "1", "--dry-run"], env).stdout
    # two methods × (one base model + five λ) trainings, each evaluated
    assert "24 jobs (12 train, 12 evaluate)" in planned
