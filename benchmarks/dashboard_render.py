"""Benchmark: how long every dashboard page takes to render with a busy database.

Seeds a temporary SQLite database with 500 runs (mixed kinds and states) and 200,000 metric
points, then measures each page two ways, several times, and reports median, min and max:
- script time: the page run once with Streamlit's AppTest (what the server spends);
- time to content: in headless Chromium against `taser dashboard --no-worker` on that database,
  from navigation start until the main content has drawn (the h1 present, the script run over,
  Streamlit's status widget gone, no element still loading, every Plotly chart drawn): what a
  user waits for. The first
  visit of each page is reported apart (`first_s`): it pays the server's one-off imports.
The target is under 2 s per page. Timings are reported, not asserted.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/dashboard_render.py [--runs 500] [--points 200000]
        [--repeats 3] [--passes 2] [--port 8616] [--no-browser] [--code DIR] [--before DIR --before-label TEXT]
        [--json benchmarks/results/dashboard_render.json]

`--before DIR` measures another checkout (e.g. an older commit unpacked with `git archive`) the
same way on a database of its own seeded the same way, its dashboard passes alternating with
this one's (ABBA), so a before/after pair shares the machine's load; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

sys.path.insert(0, str(REPO_ROOT / "tests"))
from browser_support import CHROMIUM, wait_healthy  # noqa: E402
from dashboard_support import PAGES  # noqa: E402 - every page the dashboard has
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


def render_times(main_script: Path, repeats: int, run_id: int) -> dict[str, list[float]]:
    from streamlit.testing.v1 import AppTest

    times: dict[str, list[float]] = {page: [] for page in PAGES}
    for _ in range(repeats):
        for page in PAGES:
            at = AppTest.from_file(str(main_script), default_timeout=120)
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


# Drawn: the page's title is there, its script run is over (Streamlit marks the app root), the
# "running" status widget has gone, no element is still a skeleton (Streamlit loads the code of
# some elements, Plotly charts among them, only when a page first shows one) and every Plotly
# chart has its SVG layer. Returns the time since navigation start (performance.now()), so the
# clock is the browser's own.
CONTENT_DRAWN = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const done = app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stSkeleton"]')
    && document.querySelector('[data-testid="stMain"] h1')
    && !document.querySelector('[data-testid="stStatusWidget"]')
    && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => c.querySelector('.main-svg'));
  return done ? performance.now() : null;
}"""


def page_path(page: str, run_id: int) -> str:
    return {"home": "", "run": f"run?run={run_id}"}.get(page, page)


def browser_times(code: Path, url: str, artifacts: Path, port: int, repeats: int,
                  run_id: int) -> tuple[dict[str, float], dict[str, list[float]]]:
    """({page: first visit s}, {page: [later visits s]}) of time to content in headless Chromium."""
    from playwright.sync_api import sync_playwright

    env = {**os.environ, "PYTHONPATH": str(code), "TASER_DATABASE_URL": url, "TASER_ARTIFACT_ROOT": str(artifacts)}
    log = open(artifacts.parent / "dashboard.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "dashboard", "--no-worker", "--port", str(port)],
                              env=env, cwd=code, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    first: dict[str, float] = {}
    times: dict[str, list[float]] = {page: [] for page in PAGES}
    try:
        problem = wait_healthy(base, server, timeout_s=120)
        if problem:
            raise SystemExit(problem)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            for round_index in range(repeats + 1):
                for name in PAGES:
                    page.goto(f"{base}/{page_path(name, run_id)}", wait_until="commit")
                    drawn = page.wait_for_function(CONTENT_DRAWN, timeout=120_000).json_value() / 1000
                    if page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count():
                        raise SystemExit(f"{name}: the page shows an error: {page.inner_text('body')[:500]}")
                    if round_index == 0:
                        first[name] = drawn
                    else:
                        times[name].append(drawn)
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()
    return first, times


def spread(values: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(values), "min_s": min(values), "max_s": max(values)}


def seed_database(db: Path, n_runs: int, n_points: int) -> tuple[str, dict, float]:
    url = f"sqlite:///{db}"
    os.environ["TASER_DATABASE_URL"] = url
    os.environ["TASER_ARTIFACT_ROOT"] = str(db.parent / "artifacts")
    start = time.perf_counter()
    seeded = seed(url, n_runs, n_points)
    return url, seeded, time.perf_counter() - start


def measure_before(code: Path, folder: Path, args) -> dict:
    """Script times of another checkout, seeded and rendered in a process of its own (its modules
    cannot share this one's), on a database of its own at folder/bench.db."""
    out = folder / "result.json"
    subprocess.run([sys.executable, __file__, "--code", str(code), "--db", str(folder / "bench.db"), "--no-browser",
                    "--runs", str(args.runs), "--points", str(args.points), "--repeats", str(args.repeats),
                    "--json", str(out)], check=True, env={**os.environ, "PYTHONPATH": str(code)})
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the seed finishes 90% of the runs and leaves 3 running, so it needs 30 at least
    parser.add_argument("--runs", type=int, default=500, help="runs seeded (at least 30)")
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3, help="script runs per page; page loads per page and pass")
    parser.add_argument("--passes", type=int, default=2,
                        help="dashboard starts per checkout (alternating with --before), each with its first visits")
    parser.add_argument("--port", type=int, default=8616, help="where the benchmark's dashboard listens")
    parser.add_argument("--no-browser", action="store_true", help="script times only (no Chromium)")
    parser.add_argument("--code", type=Path, default=REPO_ROOT, help="the checkout to seed and serve")
    parser.add_argument("--before", type=Path, help="another checkout measured the same way, interleaved")
    parser.add_argument("--before-label", default="", help="what --before is (e.g. a commit), for the JSON")
    parser.add_argument("--db", type=Path, help="seed this database file (default: a temporary folder)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.runs < 30:
        parser.error("--runs must be at least 30: the seed leaves 10% of them unfinished, 3 of those running")
    code = args.code.resolve()
    sys.path.insert(0, str(code))
    folder = Path(tempfile.mkdtemp(prefix="taser-dashboard-bench-"))
    load_before = os.getloadavg()[0]
    url, seeded, seed_s = seed_database(args.db or folder / "bench.db", args.runs, args.points)
    print(f"seeded {seeded['runs']} runs and {seeded['metric_points']} metric points in {seed_s:.1f} s")
    times = render_times(code / "app" / "dashboard" / "main.py", args.repeats, seeded["first_run"])
    result = {"seed": seeded, "seed_wall_s": seed_s, "repeats": args.repeats,
              "pages": [{"page": page, **spread(values)} for page, values in times.items()]}
    before = None
    if args.before:
        (folder / "before").mkdir()
        before = {"label": args.before_label or args.before.name, **measure_before(args.before.resolve(),
                                                                                 folder / "before", args)}
    if not args.no_browser:
        targets = {"after": (code, url, seeded)}
        if before:
            targets["before"] = (args.before.resolve(), f"sqlite:///{folder / 'before' / 'bench.db'}", before["seed"])
        firsts = {label: {page: [] for page in PAGES} for label in targets}
        loads = {label: {page: [] for page in PAGES} for label in targets}
        for index in range(args.passes):  # ABBA: drift in the machine's load falls on both alike
            for label in (list(targets) if index % 2 == 0 else list(targets)[::-1]):
                target_code, target_url, target_seed = targets[label]
                first, ttc = browser_times(target_code, target_url, Path(target_url[len("sqlite:///"):]).parent / "artifacts",
                                           args.port, args.repeats, target_seed["first_run"])
                for page in PAGES:
                    firsts[label][page].append(first[page])
                    loads[label][page] += ttc[page]
        for label, mine in (("after", result), ("before", before)):
            if label in targets:
                mine["time_to_content"] = [{"page": page, **spread(loads[label][page]),
                                            "first_s": statistics.median(firsts[label][page]),
                                            "samples": len(loads[label][page])} for page in PAGES]
    result["load_average"] = {"start": load_before, "end": os.getloadavg()[0], "cpus": os.cpu_count()}
    if before:
        result["before"] = before
    report(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def report(result: dict) -> None:
    before = result.get("before") or {}
    columns = [("script", result["pages"]), ("content", result.get("time_to_content")),
               ("script before", before.get("pages")), ("content before", before.get("time_to_content"))]
    columns = [(name, {row["page"]: row for row in rows}) for name, rows in columns if rows]
    print("seconds per page: median (min–max)")
    print(f"{'page':<14}" + "".join(f"{name:>24}" for name, _ in columns))
    for page in PAGES:
        cells = (f"{row['median_s']:.2f} ({row['min_s']:.2f}–{row['max_s']:.2f})"
                 for row in (by_page[page] for _, by_page in columns))
        print(f"{page:<14}" + "".join(f"{cell:>24}" for cell in cells))
    measured = result.get("time_to_content", result["pages"])
    worst = max(measured, key=lambda row: row["median_s"])
    print(f"slowest median: {worst['page']} ({worst['median_s']:.2f} s); target: every page under 2 s; "
          f"load average {result['load_average']['start']:.1f} -> {result['load_average']['end']:.1f} "
          f"on {result['load_average']['cpus']} CPUs")


if __name__ == "__main__":
    sys.exit(main())
