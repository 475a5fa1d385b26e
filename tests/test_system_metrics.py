"""Per-run system metrics sampled by the worker (issue 18, gap 10): the job's process tree's CPU %
and resident memory, from /proc, stored as `system/...` metrics, which the run page charts as
their own group; GPU use is reported by the job's process only while it uses CUDA."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.system_metrics import TreeSampler, gpu_usage, process_tree
from app.worker import Worker, WorkerOptions
from db import store

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_a_short_job_records_cpu_and_memory_points(queue_db):
    job_id = store.submit_job("count", {"steps": 30, "step_s": 0.05})
    Worker(WorkerOptions(once=True, poll_interval_s=0.05)).run()
    job = store.get_job(job_id)
    assert job.status == "succeeded", job.error
    series = store.metric_series([job.run_id])[job.run_id]
    assert {"system/cpu_percent", "system/rss_mb", "system/peak_rss_mb"} <= set(series)
    assert "loss" in series  # the job's own metrics are untouched
    rss = [value for _, value in series["system/rss_mb"]]
    peak = [value for _, value in series["system/peak_rss_mb"]]
    assert all(5 < value < 4096 for value in rss)  # a Python process: some MiB, not GiBs
    assert peak[-1] >= max(rss) and peak == sorted(peak)
    assert all(0 <= value for _, value in series["system/cpu_percent"])
    steps = [step for step, _ in series["system/rss_mb"]]
    assert steps == sorted(steps) and steps[0] >= 0  # seconds since the job started


def test_the_tree_includes_the_job_processes_children():
    script = ("import subprocess, sys; child = subprocess.Popen([sys.executable, '-c', "
              "'import time; time.sleep(60)']); print(child.pid, flush=True); child.wait()")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert process_tree(parent.pid)[0] == parent.pid and child in process_tree(parent.pid)
        sample = TreeSampler(parent.pid).sample()
        one = TreeSampler(child).sample()
        assert sample["system/rss_mb"] > one["system/rss_mb"] > 0  # both processes counted
        assert "system/cpu_percent" in sample  # the first sample: since the process started
    finally:
        for pid in process_tree(parent.pid)[::-1]:
            subprocess.run(["kill", str(pid)], check=False)
        parent.wait(timeout=10)
    assert TreeSampler(parent.pid).sample() == {}  # gone: nothing, no error
    assert process_tree(parent.pid) == []


def test_no_gpu_metrics_without_cuda_in_use():
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        pytest.skip("this process uses CUDA already")
    assert gpu_usage() == {}


def test_system_metrics_are_their_own_chart_group():
    from app.figures.curves import group_keys

    groups = group_keys(["loss", "system/cpu_percent", "system/rss_mb", "clean_acc"])
    assert groups["system"] == ["system/cpu_percent", "system/rss_mb"]
    assert "other" not in groups


class _FakeCuda:
    """torch.cuda as a process using CUDA sees it, on a machine where NVML is not installed."""

    MB = 1024 * 1024

    def is_initialized(self):
        return True

    def current_device(self):
        return 0

    def memory_allocated(self, device):
        return 300 * self.MB

    def memory_reserved(self, device):
        return 512 * self.MB

    def max_memory_allocated(self, device):
        return 400 * self.MB

    def utilization(self, device):
        raise ModuleNotFoundError("pynvml does not seem to be installed")


def test_a_job_using_cuda_reports_its_gpu_memory_to_the_worker(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from app.jobs.runner import JobSpec, WorkerContext

    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=_FakeCuda()))
    usage = gpu_usage()
    assert usage == {"system/gpu_memory_mb": 300.0, "system/gpu_reserved_mb": 512.0,
                     "system/gpu_peak_memory_mb": 400.0}  # no utilisation without NVML, no error

    class Pipe:
        sent: list = []

        def send(self, message):
            self.sent.append(message)

    spec = JobSpec(job_id=1, run_id=1, kind="count", config={}, run_dir=str(tmp_path), resume_checkpoint=None,
                   log_path=str(tmp_path / "job.log"), attempt=1, worker_pid=0)
    ctx = WorkerContext(spec, Pipe())
    ctx.on_progress(1, 3)
    ctx.on_progress(2, 3)  # within the report interval: progress only
    assert [message for message in Pipe.sent if message[0] == "system"] == [("system", usage)]
    ctx.report_gpu(now=True)  # as the job ends
    assert [message[0] for message in Pipe.sent].count("system") == 2
