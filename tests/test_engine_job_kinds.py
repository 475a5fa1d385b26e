"""The engine job kinds (train, finetune, evaluate) run through the real worker on a real database."""

import json

import pytest

from app.jobs import validate_config



def _drain():
    from app.worker import Worker, WorkerOptions

    Worker(WorkerOptions(once=True, poll_interval_s=0.05, lease_s=60)).run()


def test_train_then_finetune_then_evaluate_through_the_worker(queue_db):
    from db import store

    train_id = store.submit_job("train", validate_config("train", {
        "dataset": "digits", "method": "standard", "epochs": 1, "batch_size": 128,
        "max_train_samples": 256, "taser": True}).model_dump(mode="json"))
    _drain()
    trained = store.get_job(train_id)
    assert trained.status == "succeeded", trained.error
    run_id = trained.run_id

    ft_id = store.submit_job("finetune", validate_config("finetune", {
        "source_run": run_id, "epochs": 1, "batch_size": 128, "max_train_samples": 128}).model_dump(mode="json"),
        parent_run_id=run_id)
    ev_id = store.submit_job("evaluate", validate_config("evaluate", {
        "model_run": run_id, "n_eval": 20, "attacks": ["apgd_ce", "spsa"], "spsa_nb_iter": 2,
        "spsa_nb_sample": 4, "apgd_n_iter": 5, "iteration_check": None}).model_dump(mode="json"),
        parent_run_id=run_id)
    _drain()
    for job_id in (ft_id, ev_id):
        job = store.get_job(job_id)
        assert job.status == "succeeded", job.error
    from db.store import get_run

    evaluation = get_run(store.get_job(ev_id).run_id)
    summary = evaluation["summary"] if isinstance(evaluation, dict) else evaluation.summary
    assert summary["n"] == 20 and 0.0 <= summary["clean_acc"] <= 1.0
    assert summary["run"]["method"] == "standard" and summary["run"]["taser"] is True
    assert set(summary["robust"]) == {"apgd_ce", "spsa"}


def test_job_configs_refer_to_runs_by_id_and_name_bad_fields():
    from app.jobs import JobConfigError

    with pytest.raises(JobConfigError, match="model_run"):
        validate_config("evaluate", {})
    with pytest.raises(JobConfigError, match="epochs"):
        validate_config("train", {"epochs": 0})


@pytest.mark.slow  # ~33 s; the score cache and the diffusion score in training are covered by test_score_cache_training
def test_score_model_job_feeds_a_taser_training_job(queue_db):
    from db import store

    score_id = store.submit_job("score-model", validate_config("score-model", {
        "dataset": "digits", "epochs": 1, "block_out_channels": [16, 32], "layers_per_block": 1,
        "warmup_steps": 5}).model_dump(mode="json"))
    _drain()
    scored = store.get_job(score_id)
    assert scored.status == "succeeded", scored.error
    from diffusers import DDPMScheduler, UNet2DModel

    from app.paths import run_dir_for

    folder = run_dir_for(scored.run_id)
    UNet2DModel.from_pretrained(folder)
    DDPMScheduler.from_pretrained(folder)

    train_id = store.submit_job("train", validate_config("train", {
        "dataset": "digits", "epochs": 1, "batch_size": 128, "max_train_samples": 256, "taser": True,
        "score_model_run": scored.run_id}).model_dump(mode="json"))
    _drain()
    trained = store.get_job(train_id)
    assert trained.status == "succeeded", trained.error
    assert json.loads((run_dir_for(trained.run_id) / "result.json").read_text())["score_model"] == str(folder)


def test_a_job_waits_for_its_parent_run(queue_db):
    from app.jobs import referenced_run
    from db import store

    parent_job = store.submit_job("count", {"steps": 1, "step_s": 0.0})
    parent_run = store.get_job(parent_job).run_id
    config = validate_config("evaluate", {"model_run": parent_run}).model_dump(mode="json")
    assert referenced_run(config) == parent_run
    child_job = store.submit_job("evaluate", config, parent_run_id=referenced_run(config), priority=10)
    claimed = store.claim_next_job("w1", 60)
    assert claimed.id == parent_job  # the child has the higher priority but its input is not ready
    assert store.claim_next_job("w2", 60) is None
    store.complete(parent_job, "w1", {"ok": True})
    assert store.claim_next_job("w2", 60).id == child_job


def test_a_fine_tune_waits_for_its_source_and_its_score_model(queue_db):
    from app.jobs import referenced_run, referenced_runs
    from db import store

    source_job = store.submit_job("count", {"steps": 1, "step_s": 0.0})
    score_job = store.submit_job("count", {"steps": 1, "step_s": 0.0})
    source_run, score_run = store.get_job(source_job).run_id, store.get_job(score_job).run_id
    config = validate_config("finetune", {"source_run": source_run, "score_model_run": score_run}).model_dump(mode="json")
    assert referenced_runs(config) == [source_run, score_run] and referenced_run(config) == source_run
    child = store.submit_job("finetune", config, parent_run_id=referenced_run(config),
                             depends_on=referenced_runs(config), priority=10)
    for job in (source_job, score_job):
        assert store.claim_next_job("w1", 60).id == job
    store.complete(source_job, "w1", {"ok": True})
    assert store.claim_next_job("w2", 60) is None  # the score model is still running
    run = store.get_run(store.get_job(child).run_id)
    assert [d["status"] for d in run["dependencies"]] == ["succeeded", "running"]
    store.complete(score_job, "w1", {"ok": True})
    assert store.claim_next_job("w2", 60).id == child
