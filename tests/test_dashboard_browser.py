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
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
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


def wait_healthy(base: str, server: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dashboard exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"dashboard not healthy after {timeout_s} s:\n{log.read_text()[-3000:]}")


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
        wait_healthy(base, server, log)
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
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
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
            page.get_by_text(re.compile(r"#\d+ from-the-browser succeeded")).wait_for(timeout=60_000)
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
            page.get_by_text(re.compile(r"Queued job \d+")).wait_for(timeout=30_000)
            page.screenshot(path=str(shots / "launch-cloned.png"), full_page=True)
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
    assert len(list(shots.glob("*.png"))) == len(PAGES) + 4
    assert "Traceback" not in log.read_text()
