"""Data-parallel training: 2 Gloo processes on the CPU (through torchrun) against one process.

Both runs take the same global batches (batch 63: shards of 32 and 31 samples, so the n·world/B
loss weighting is exercised); the two-process run must end with the single process's weights.
For TASER the equivalence needs a penalty that is the same whether taken on the global batch
or on its shards: global centring (a constant c, R = mean((r − c)²)) is a per-sample mean, so
it checks the fused backward (base through DDP + penalty on the bare module). With batch
centring the shard's mean is used (documented in loop.py): that run must finish through the
real worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from app.jobs import validate_config
from taser_engine.training import train
from taser_engine.training.loop import epoch_batches

REPO_ROOT = Path(__file__).resolve().parent.parent
SMALL = {"dataset": "digits", "arch": "mlp", "width": 32, "epochs": 1, "batch_size": 63,
         "max_train_samples": 200, "max_test_samples": 50, "device": "cpu", "lr": 3e-3,
         "lr_schedule": "constant", "cpu_threads": 1}


def _torchrun(config: dict, run_dir: Path, processes: int = 2) -> subprocess.CompletedProcess:
    work = run_dir / "distributed"
    work.mkdir(parents=True)
    (work / "config.json").write_text(json.dumps(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                           "--nproc_per_node", str(processes), "-m", "app.distributed_train",
                           "--kind", "train", "--run-dir", str(run_dir)],
                          env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "model.safetensors"))


def _two_against_one(tmp_path: Path, config: dict) -> tuple[dict, dict]:
    single = train(validate_config("train", config), run_dir=tmp_path / "one", resume=False)
    done = _torchrun({**config, "gpus": 2}, tmp_path / "two")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    double = json.loads((tmp_path / "two" / "result.json").read_text())
    assert double["processes"] == 2 and double["steps"] == single["steps"] > 1
    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert one.keys() == two.keys()
    start = _weights_at_start(config)
    moved = [name for name in one if not torch.allclose(one[name], start[name])]
    assert len(moved) >= 4  # the layers' weights and biases were trained (not the input normalisation)
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5, msg=name)
    return single, double


def _weights_at_start(config: dict) -> dict[str, torch.Tensor]:
    from taser_engine.models import build_model

    cfg = validate_config("train", config)
    torch.manual_seed(cfg.seed)
    return {k: v.detach() for k, v in build_model(cfg.model_spec()).state_dict().items()}


def test_two_processes_with_taser_reach_the_weights_of_one(tmp_path):
    penalty = {"centering": "global", "center": 0.0}
    single, double = _two_against_one(tmp_path, {**SMALL, "taser": True, "taser_lambda": 0.05,
                                                 "penalty": penalty})
    # metrics are averaged over the processes with the shards' weights: the global batch's
    assert double["history"][0]["loss/taser"] == pytest.approx(single["history"][0]["loss/taser"], rel=1e-4)
    assert double["history"][0]["loss/base"] == pytest.approx(single["history"][0]["loss/base"], rel=1e-4)


@pytest.mark.slow
def test_two_processes_without_taser_reach_the_weights_of_one(tmp_path):
    _two_against_one(tmp_path, {**SMALL, "epochs": 2})


def test_gpus_above_one_outside_torchrun_is_refused(tmp_path):
    with pytest.raises(ValueError, match="gpus"):
        train(validate_config("train", {**SMALL, "gpus": 2}), run_dir=tmp_path)
    with pytest.raises(Exception, match="batch_size"):
        validate_config("train", {**SMALL, "gpus": 40})


@pytest.fixture
def queue_db(queue_db, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return queue_db


@pytest.mark.slow  # ~22 s; torchrun data parallelism itself stays in the default suite
def test_a_two_gpu_train_job_succeeds_through_the_worker(queue_db):
    from app.worker import Worker, WorkerOptions
    from db import store

    config = validate_config("train", {**SMALL, "gpus": 2, "taser": True, "taser_lambda": 0.05,
                                       "log_every_steps": 1}).model_dump(mode="json")
    job_id = store.submit_job("train", config)
    Worker(WorkerOptions(once=True, poll_interval_s=0.05, lease_s=60)).run()
    job = store.get_job(job_id)
    assert job.status == "succeeded", job.error
    summary = store.get_run(job.run_id)["summary"]
    steps = len(epoch_batches(SMALL["max_train_samples"], SMALL["batch_size"], 0, 0, processes=2))
    assert summary["processes"] == 2 and summary["stopped"] is False
    assert summary["steps"] == summary["steps_planned"] == steps
    run_dir = Path(summary["run_dir"])
    assert (run_dir / "model.safetensors").is_file() and (run_dir / "checkpoint" / "state.json").is_file()
    # process 0's progress, metrics and checkpoint reached the database through the launcher
    assert job.checkpoint_path and job.progress_step == steps
    assert "loss/taser" in store.metric_keys(job.run_id)


@pytest.mark.slow
def test_a_stopped_two_process_run_resumes_to_the_weights_of_one(tmp_path):
    """Stop (as a cancel does) after 3 steps, resume: same weights as one uninterrupted process."""
    from app.distributed_train import launch
    from taser_engine.callbacks import RecordingCallbacks

    config = {**SMALL, "epochs": 5, "taser": True, "taser_lambda": 0.05,
              "penalty": {"centering": "global", "center": 0.0}}
    train(validate_config("train", config), run_dir=tmp_path / "one", resume=False)
    two = validate_config("train", {**config, "gpus": 2})
    calls = RecordingCallbacks(stop_after_steps=3)
    first = launch("train", two, calls, tmp_path / "two", poll_s=0.02)
    assert first["stopped"] and 3 <= first["steps"] < first["steps_planned"]
    assert calls.checkpoints and not (tmp_path / "two" / "model.safetensors").exists()
    second = launch("train", two, RecordingCallbacks(), tmp_path / "two")
    assert not second["stopped"] and second["steps"] == second["steps_planned"]
    one, resumed = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    for name in one:
        torch.testing.assert_close(resumed[name], one[name], rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.slow
def test_a_failing_process_fails_the_job_with_its_reason(queue_db):
    from app.worker import Worker, WorkerOptions
    from db import store

    missing = queue_db / "artifacts" / "no-mnist-here"  # under the artifact root: an allowed data root
    config = validate_config("train", {**SMALL, "dataset": "mnist", "data_root": str(missing), "arch": "mlp",
                                       "gpus": 2}).model_dump(mode="json")
    job_id = store.submit_job("train", config)
    Worker(WorkerOptions(once=True, poll_interval_s=0.05, lease_s=60)).run()
    job = store.get_job(job_id)
    assert job.status == "failed"
    assert job.error.startswith("process ") and "missing file or dataset" in job.error, job.error


@pytest.mark.slow
def test_a_cancelled_two_gpu_job_stops_every_process_and_resumes_when_requeued(queue_db):
    import threading

    from app.worker import Worker, WorkerOptions
    from db import store
    from tests.queue_support import wait_for

    config = {**SMALL, "epochs": 40, "taser": True, "taser_lambda": 0.05,
              "penalty": {"centering": "global", "center": 0.0}}
    train(validate_config("train", config), run_dir=queue_db / "one", resume=False)
    job_id = store.submit_job("train", validate_config("train", {**config, "gpus": 2}).model_dump(mode="json"))

    def drain() -> threading.Thread:
        thread = threading.Thread(target=Worker(WorkerOptions(once=True, poll_interval_s=0.05, lease_s=60,
                                                              grace_s=60)).run)
        thread.start()
        return thread

    worker = drain()
    wait_for(lambda: store.get_job(job_id).progress_step >= 3, 120, "the job to take 3 steps")
    store.request_cancel(job_id)
    worker.join(120)
    job = store.get_job(job_id)
    assert job.status == "cancelled", (job.error, job.log_tail[-3000:])
    assert job.progress_step < job.progress_total and job.checkpoint_path
    assert "Traceback" not in job.log_tail, job.log_tail[-3000:]  # a clean stop, not a kill
    store.requeue(job_id)
    drain().join(180)
    job = store.get_job(job_id)
    assert job.status == "succeeded", job.error
    run_dir = queue_db / "artifacts" / "runs" / str(job.run_id)
    one, resumed = _weights(queue_db / "one"), _weights(run_dir)
    for name in one:
        torch.testing.assert_close(resumed[name], one[name], rtol=1e-4, atol=1e-5, msg=name)
