"""Benchmark: how long every dashboard page takes to render with a busy database.

Seeds a temporary SQLite database with 500 runs (mixed kinds and states) and 200,000 metric
points, then renders each page with Streamlit's AppTest several times and reports the median
and worst time per page (the target is under 2 s per page). Timings are reported, not asserted.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/dashboard_render.py [--runs 500] [--points 200000]
        [--repeats 3] [--json benchmarks/results/dashboard_render.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

MAIN = REPO_ROOT / "app" / "dashboard" / "main.py"
PAGES = ("home", "launch", "runs", "run", "compare", "extrapolation", "alignment", "robustness",
         "overhead", "paper_check", "report")
METRIC_KEYS = ("loss/base", "loss/taser", "lambda", "lr")


def seed(url: str, n_runs: int, n_points: int) -> dict:
    """Runs through the queue API (submit, claim, finish); metrics through the tracking API, one transaction a run."""
    from db import store

    rng = random.Random(0)
    kinds = ("count", "count", "count", "toy1d", "bench-overhead")
    run_ids = []
    for index in range(n_runs):
        kind = kinds[index % len(kinds)]
        job_id = store.submit_job(kind, {"index": index, "lr": 10 ** rng.uniform(-4, -2)}, name=f"bench-{index}",
                                  tags=[f"group{index % 7}"], url=url)
        run_ids.append((job_id, store.get_job(job_id, url=url).run_id, kind))
    finished = run_ids[: int(0.9 * n_runs)]
    for job_id, run_id, kind in finished:  # claim in order, finish most, fail some
        job = store.claim_next_job("bench-worker", 60.0, url=url)
        summary = synthetic_summary(kind, rng)
        if job.id % 11 == 0:
            store.fail(job.id, "bench-worker", "NaN loss: synthetic failure", url=url)
        else:
            store.complete(job.id, "bench-worker", summary, url=url)
    for _ in range(3):  # a few running
        job = store.claim_next_job("bench-worker", 3600.0, url=url)
        store.set_progress(job.id, 30, 100, "epoch 3/10", 120.0, url=url)
    per_run = n_points // (n_runs * len(METRIC_KEYS))
    points = 0
    for _, run_id, _ in run_ids:
        steps = [(step, {key: math.exp(-step / 50) + rng.random() * 0.01 for key in METRIC_KEYS})
                 for step in range(per_run)]
        store.log_metric_points(run_id, steps, url=url)
        points += len(steps) * len(METRIC_KEYS)
    return {"runs": len(run_ids), "metric_points": points, "first_run": run_ids[0][1]}


def synthetic_summary(kind: str, rng: random.Random) -> dict:
    """Result-shaped summaries so the result pages have something of realistic size to draw."""
    if kind == "toy1d":
        x = [-8 + 16 * i / 400 for i in range(401)]
        cells = [("l2", 0.0)] + [(reg, lam) for reg in ("l2", "stein") for lam in (1e-4, 1e-3, 1e-2, 1e-1)]
        return {"settings": {"distribution": "gaussian", "target": "sin"},
                "rows": [{"regulariser": reg, "lambda": lam, "id_mse_mean": rng.random() * 1e-2,
                          "id_mse_std": 1e-3, "ood_mse_mean": rng.random() * 3, "ood_mse_std": 0.1,
                          "seeds": [0, 1, 2, 3, 4]} for reg, lam in cells],
                "curves": {"x": x, "truth": [math.sin(v) for v in x],
                           "density": [math.exp(-v * v / 2) for v in x],
                           "predictions": [{"regulariser": reg, "lambda": lam,
                                            "mean": [math.sin(v) * math.exp(-abs(v) / 8) for v in x]}
                                           for reg, lam in cells]}}
    if kind == "bench-overhead":
        return {"settings": {}, "rows": [
            {"model": model, "device": "cpu", "method": method, "laplacian": lap, "num_probes": 1,
             "ms_per_sample": 2.0, "plain_ms_per_sample": 1.0, "ratio": 2.0, "rel_error": 1e-6,
             "grad_rel_error": 1e-5}
            for model in ("resnet18", "small_cnn") for method in ("autograd", "jvp", "fd")
            for lap in ("none", "hutchinson")]}
    return {"step": 100, "x": 1.0}


def render_times(repeats: int, run_id: int) -> dict[str, list[float]]:
    from streamlit.testing.v1 import AppTest

    times: dict[str, list[float]] = {page: [] for page in PAGES}
    for _ in range(repeats):
        for page in PAGES:
            at = AppTest.from_file(str(MAIN), default_timeout=120)
            at.run()
            if page == "run":
                at.query_params["run"] = str(run_id)
            at.switch_page(f"screens/{page}.py")
            start = time.perf_counter()
            at.run()
            times[page].append(time.perf_counter() - start)
            if at.exception or at.error:
                raise SystemExit(f"{page} failed: {[e.value for e in list(at.exception) + list(at.error)]}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="taser-dashboard-bench-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    os.environ["TASER_DATABASE_URL"] = url
    os.environ["TASER_ARTIFACT_ROOT"] = str(folder / "artifacts")
    start = time.perf_counter()
    seeded = seed(url, args.runs, args.points)
    seed_s = time.perf_counter() - start
    times = render_times(args.repeats, seeded["first_run"])
    rows = [{"page": page, "median_s": statistics.median(values), "max_s": max(values)}
            for page, values in times.items()]
    print(f"seeded {seeded['runs']} runs and {seeded['metric_points']} metric points in {seed_s:.1f} s")
    print(f"{'page':<15}{'median s':>10}{'max s':>10}")
    for row in rows:
        print(f"{row['page']:<15}{row['median_s']:>10.3f}{row['max_s']:>10.3f}")
    worst = max(rows, key=lambda row: row["max_s"])
    print(f"slowest: {worst['page']} ({worst['max_s']:.2f} s); target: every page under 2 s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"seed": seeded, "seed_wall_s": seed_s, "repeats": args.repeats,
                                         "pages": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
