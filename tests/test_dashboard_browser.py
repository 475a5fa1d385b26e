"""End to end in a real headless browser: `taser dashboard` (with its embedded worker) on a free
port and a temporary database; submit a small job from the Launch form, see it finish on Runs,
clone it with an edit, open every page, find no exception text, save screenshots.

Needs Debian's chromium at /usr/bin/chromium (`make browser` installs it) and Playwright's Python
package; no browser is downloaded. Screenshots go to a temporary folder, or to
$TASER_SCREENSHOT_DIR when set.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser_support import CHROMIUM, open_report, undrawn, wait_healthy

REPO_ROOT = Path(__file__).resolve().parent.parent
PAGES = {"home": "", "launch": "launch", "runs": "runs", "run": "run", "compare": "compare",
         "extrapolation": "extrapolation", "alignment": "alignment", "robustness": "robustness",
         "overhead": "overhead", "paper_check": "paper_check", "report": "report", "studies": "studies"}
EXCEPTION_TEXT = re.compile(r"Traceback|Exception:|Error:|could not be drawn", re.IGNORECASE)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not found at /usr/bin/chromium "
                                                      "(install it with `make browser`)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dashboard(tmp_path):
    port = free_port()
    env = dict(os.environ)
    env.update({"PYTHONPATH": str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
                "TASER_DATABASE_URL": f"sqlite:///{tmp_path / 'taser.db'}",
                "TASER_ARTIFACT_ROOT": str(tmp_path / "artifacts")})
    log = tmp_path / "dashboard.log"
    with open(log, "w") as handle:
        server = subprocess.Popen([sys.executable, "-m", "app.cli", "dashboard", "--port", str(port)],
                                  env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                                  start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        problem = wait_healthy(base, server, timeout_s=90)
        if problem:
            pytest.fail(f"{problem}:\n{log.read_text()[-3000:]}")
        yield base, log
    finally:
        children = child_pids(server.pid)  # streamlit and the embedded worker
        server.send_signal(signal.SIGTERM)  # the dashboard stops its worker on the way out
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert len(children) == 2, f"expected streamlit and one worker under the dashboard, got {children}"
    assert not [pid for pid in children if alive(pid)], "the dashboard left processes behind"


def child_pids(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def settle(page) -> None:
    """Wait for the page's script run to finish (Streamlit shows a status widget while it runs)."""
    page.wait_for_selector("h1", timeout=30_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
                           ".every(chart => chart.querySelector('.main-svg'))", timeout=30_000)
    page.wait_for_timeout(300)


def test_dashboard_in_a_real_browser(dashboard, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    base, log = dashboard
    shots = Path(os.environ.get("TASER_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        try:
            runs = queue_trainings(tmp_path)  # the embedded worker runs them while the walk begins
            # submit a small job from the Launch form
            page.goto(f"{base}/launch?kind=count")
            settle(page)
            page.get_by_role("spinbutton", name="steps", exact=True).fill("6")
            page.get_by_role("textbox", name="Run name").fill("from-the-browser")
            page.get_by_role("button", name="Queue this run").click()
            page.get_by_text(re.compile(r"Queued job \d+")).wait_for(timeout=30_000)
            page.screenshot(path=str(shots / "launch-queued.png"), full_page=True)
            # see it finish on Runs (the embedded worker runs it; the table refreshes itself)
            page.goto(f"{base}/runs")
            settle(page)
            page.get_by_text(re.compile(r"#\d+ from-the-browser succeeded")).wait_for(timeout=240_000)
            page.screenshot(path=str(shots / "runs-finished.png"), full_page=True)
            # clone it with one edit: the form comes filled in from the run, and the clone is queued
            finished = page.get_by_text(re.compile(r"#\d+ from-the-browser succeeded")).first.inner_text()
            source = re.search(r"#(\d+) from-the-browser", finished).group(1)
            page.goto(f"{base}/launch?clone={source}")
            settle(page)
            page.get_by_text(f"cloned from #{source}").first.wait_for(timeout=30_000)
            assert page.get_by_role("textbox", name="Run name").input_value() == "from-the-browser (copy)"
            page.get_by_role("spinbutton", name="steps", exact=True).fill("3")
            page.get_by_role("button", name="Queue this run").click()
            queued_clone = page.get_by_text(re.compile(r"Queued job \d+ \(run #\d+\)"))
            queued_clone.wait_for(timeout=30_000)
            clone = re.search(r"run #(\d+)", queued_clone.inner_text()).group(1)
            page.screenshot(path=str(shots / "launch-cloned.png"), full_page=True)
            # watch the clone live: its page refreshes itself until the run has succeeded
            page.goto(f"{base}/run?run={clone}")
            settle(page)
            page.get_by_text(re.compile(rf"#{clone} from-the-browser \(copy\) · count · succeeded")).wait_for(timeout=240_000)
            # a training's page links to its evaluation, whose page shows its numbers up front
            page.goto(f"{base}/run?run={runs['seed0']}")
            settle(page)
            page.get_by_text(re.compile(rf"#{runs['seed0']} tiny seed 0 · train · succeeded")).wait_for(timeout=240_000)
            page.get_by_role("link", name=re.compile(rf"#{runs['evaluation']}\b")).first.click()
            page.get_by_text(re.compile(rf"#{runs['evaluation']} .*· evaluate · succeeded")).wait_for(timeout=240_000)
            page.reload()  # the numbers are drawn with the page, not by its live header
            settle(page)
            page.get_by_role("heading", name="Results").wait_for(timeout=30_000)
            assert "No evaluations stored" not in page.inner_text("body")
            assert page.get_by_text("robust_acc/autoattack").count() == 0  # one point per attack: no curves
            page.screenshot(path=str(shots / "evaluation.png"), full_page=True)
            # compare the two seeds, grouped into mean ± sd
            page.goto(f"{base}/compare?runs={runs['seed0']},{runs['seed1']}")
            settle(page)
            page.get_by_text("group seeds").click()
            page.get_by_text("tiny seed 0 ×2 seeds").first.wait_for(timeout=30_000)  # one line for both
            settle(page)
            page.screenshot(path=str(shots / "compare-seeds.png"), full_page=True)
            # export the Robustness figure as a PNG: real colours, not a blank or black image
            page.goto(f"{base}/robustness")
            settle(page)
            page.get_by_role("button", name="Figure (PNG)").first.click()
            with page.expect_download(timeout=120_000) as download:
                page.get_by_role("button", name="download PNG").first.click()
            png = tmp_path / "robustness.png"
            download.value.save_as(png)
            assert_not_one_colour(png)
            # a 6-run report built on the Report page: every chart of the downloaded file draws
            six = ",".join(str(run_id) for run_id in [*runs["counts"], runs["seed0"], runs["seed1"], source, clone])
            page.goto(f"{base}/report?runs={six}")
            settle(page)
            page.get_by_role("button", name="Build the report").click()
            with page.expect_download(timeout=120_000) as download:
                page.get_by_role("button", name=re.compile(r"Download report\.html")).click()
            report = tmp_path / "report.html"
            download.value.save_as(report)
            report_page = browser.new_page(viewport={"width": 1440, "height": 900})
            charts = open_report(report_page, report)
            report_page.close()
            assert len(charts) >= 6 and not undrawn(charts), charts
            assert not any(chart["gl"] for chart in charts), "a report chart uses WebGL"
            # a study from the CLI, cancelled at once: its page draws the grid of cancelled cells
            env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TASER_DATABASE_URL": f"sqlite:///{tmp_path / 'taser.db'}",
                   "TASER_ARTIFACT_ROOT": str(tmp_path / "artifacts")}
            queued = subprocess.run([sys.executable, "-m", "app.cli", "study", "run", "--preset", "table2-digits",
                                     "--seeds", "1", "--set", "epochs=1", "--set", "methods=standard"],
                                    env=env, capture_output=True, text=True, timeout=120, check=True).stdout
            study_id = re.search(r"queued study (\d+)", queued).group(1)
            subprocess.run([sys.executable, "-m", "app.cli", "study", "cancel", study_id], env=env, timeout=120, check=True)
            page.goto(f"{base}/studies?study={study_id}")
            settle(page)
            page.get_by_text("Evaluations by state").wait_for(timeout=30_000)
            assert not EXCEPTION_TEXT.search(page.inner_text("body"))
            page.screenshot(path=str(shots / "study.png"), full_page=True)
            # every page: drawn, no exception text
            for name, path in PAGES.items():
                page.goto(f"{base}/{path}")
                settle(page)
                body = page.inner_text("body")
                assert not EXCEPTION_TEXT.search(body), f"{name}: {EXCEPTION_TEXT.search(body).group(0)} in page"
                assert page.locator("[data-testid='stException']").count() == 0, name
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        finally:
            browser.close()
    assert len(list(shots.glob("*.png"))) == len(PAGES) + 6
    assert "Traceback" not in log.read_text()


# Small but real: digits trainings of two seeds (a few seconds each) and an evaluation of the first
# with every attack at its smallest size, queued before the walk so the dashboard's worker runs them.
TINY_TRAIN = {"dataset": "digits", "epochs": 1, "batch_size": 64, "max_train_samples": 256, "max_test_samples": 64,
              "width": 4}
TINY_EVALUATE = {"n_eval": 16, "apgd_n_iter": 2, "square_n_queries": 5, "spsa_nb_iter": 1, "spsa_nb_sample": 2,
                 "iteration_check": None}


def queue_trainings(tmp_path: Path) -> dict:
    from app.submission import submit

    url = f"sqlite:///{tmp_path / 'taser.db'}"
    runs = {f"seed{seed}": submit("train", {**TINY_TRAIN, "seed": seed}, {"name": f"tiny seed {seed}"}, url=url).run_id
            for seed in (0, 1)}
    runs["evaluation"] = submit("evaluate", {**TINY_EVALUATE, "model_run": runs["seed0"]},
                                {"name": "tiny evaluation"}, url=url).run_id
    runs["counts"] = [submit("count", {"steps": 8, "step_s": 0.0, "lr": lr}, {"name": f"count lr {lr}"}, url=url).run_id
                      for lr in (0.1, 0.3)]
    return runs


def assert_not_one_colour(png: Path) -> None:
    from PIL import Image

    image = Image.open(png).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 16) or []  # None: more colours than that, certainly not one
    assert image.getcolors(maxcolors=1 << 16) is None or len(colours) > 1, "the PNG is a single colour"
    saturated = sum(1 for r, g, b in image.getdata() if max(r, g, b) - min(r, g, b) > 60)
    assert saturated > 100, "the PNG has no coloured pixels (bars drawn in placeholder black?)"
