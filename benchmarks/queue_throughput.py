"""Queue benchmark: how fast N workers drain noop jobs, and how long a cancel takes to land.

    python benchmarks/queue_throughput.py [--jobs 200] [--workers 4] [--url URL] [--json out.json]

Uses a fresh SQLite file unless --url is given (then the jobs are added to that database).
Reports wall time, jobs per second, CPU seconds per job (worker and job processes together),
and the cancel latency of a cooperative `count` job. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from db import store  # noqa: E402


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def worker(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--poll-interval", "0.05",
                             *args], env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)


def drain(url: str, env: dict, jobs: int, workers: int) -> dict:
    for i in range(jobs):
        store.submit_job("noop", {"tag": str(i)}, url=url)
    cpu0, start = children_cpu_s(), time.perf_counter()
    for proc in [worker(env, "--once") for _ in range(workers)]:
        proc.wait()
    wall_s, cpu_s = time.perf_counter() - start, children_cpu_s() - cpu0
    return {"jobs": jobs, "workers": workers, "wall_s": wall_s, "jobs_per_s": jobs / wall_s,
            "cpu_s_per_job": cpu_s / jobs}


def cancel_latency(url: str, env: dict) -> dict:
    job_id = store.submit_job("count", {"steps": 10_000, "step_s": 0.05}, url=url)
    proc = worker(env, "--max-jobs", "1")
    while store.get_job(job_id, url=url).progress_step < 3:
        time.sleep(0.02)
    start = time.perf_counter()
    store.request_cancel(job_id, url=url)
    while store.get_job(job_id, url=url).status != "cancelled":
        time.sleep(0.02)
    latency_s = time.perf_counter() - start
    proc.wait()
    return {"cancel_latency_s": latency_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--url")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/bench.db"
        env = dict(os.environ, TASER_DATABASE_URL=url, TASER_ARTIFACT_ROOT=f"{tmp}/artifacts",
                   PYTHONPATH=str(REPO_ROOT))
        result = {"database": url.split(":")[0], **drain(url, env, args.jobs, args.workers),
                  **cancel_latency(url, env), "load_average_1min": os.getloadavg()[0]}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
