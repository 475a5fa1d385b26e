"""Cancelling a running overhead benchmark ends it "cancelled", like any job, never "failed" with a
StopRequested traceback (issue 18, defect 4).

The worker test spawns a real job child, which imports torch: on a loaded two-core machine its first
row alone takes most of a minute, so it is marked slow; the engine's side of the contract (stop
between rows by raising StopRequested, which the job runner reports as "stopped") is checked fast.
"""

from __future__ import annotations

import pytest

from db import store
from db.session import dispose_engines
from tests.queue_support import cli_env, sqlite_url, start_worker, wait_for

pytest.importorskip("taser_engine.overhead")

# 24 rows of a fraction of a second each on a CPU: the cancel lands while rows remain
LONG_BENCHMARK = {"models": ["small_cnn"], "devices": ["cpu"], "methods": ["autograd", "jvp", "fd"],
                  "laplacians": ["none", "hutchinson"], "fractions": [1.0, 0.5, 0.25, 0.125], "warmup": 0,
                  "repeats": 15, "reference_samples": 2}


def test_the_benchmark_stops_before_its_next_row_when_asked():
    from taser_engine.callbacks import RecordingCallbacks, StopRequested
    from taser_engine.overhead import OverheadConfig, run_overhead

    callbacks = RecordingCallbacks(stop_after_steps=0)  # asked to stop before the first row
    with pytest.raises(StopRequested):
        run_overhead(OverheadConfig(**LONG_BENCHMARK), callbacks)
    assert callbacks.progress == [] and callbacks.metrics == []


@pytest.mark.slow
def test_cancelling_a_running_benchmark_records_it_cancelled(tmp_path):
    from app.jobs import normalized_config

    url = sqlite_url(tmp_path)
    env = cli_env(url, tmp_path / "artifacts")
    job_id = store.submit_job("bench-overhead", normalized_config("bench-overhead", LONG_BENCHMARK), url=url)
    worker = start_worker(env, "--poll-interval", "0.05", "--lease", "5", "--grace", "5",
                          log=tmp_path / "worker.log")
    try:
        running = wait_for(lambda: (job := store.get_job(job_id, url=url)).progress_step >= 1 and job, 120,
                           "the benchmark's first row")
        assert running.status == "running"
        store.request_cancel(job_id, url=url)  # what the Runs page's Cancel and `taser jobs cancel` do
        job = wait_for(lambda: (job := store.get_job(job_id, url=url)).status
                       in ("succeeded", "failed", "cancelled") and job, 60, "the benchmark to stop")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        dispose_engines()
    assert job.status == "cancelled", (job.status, job.error)
    assert job.progress_step < job.progress_total  # stopped between rows, not run to the end
    assert "StopRequested" not in (job.error or "") and "Traceback" not in (job.log_tail or ""), job.log_tail
